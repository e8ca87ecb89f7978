/** One team of a game: its score and line score (points per period). */
export interface Side { team_id: string; code: string; name: string; city: string | null; score: number; periods: number[] }

/** A game's snapshot, as the API serves it (see the README). */
export interface Snapshot {
  game_id: string;
  version: number;
  /** POSTPONED and CANCELLED are stated by a schedule. */
  status: "SCHEDULED" | "LIVE" | "FINAL" | "POSTPONED" | "CANCELLED";
  home: Side;
  away: Side;
  start_time: string | null;
  /** The day the game is listed on (its board), where a document states it. */
  day: string | null;
  venue: string | null;
  season: string | null;
  /** A schedule lists the game. */
  listed: boolean;
  [field: string]: unknown;
}

export type Mode = "stream" | "long-poll" | "poll";

/** How either follow goes about it (defaults in brackets). */
export interface Pacing {
  /** Called once with an answer retrying cannot fix (e.g. a malformed game id); the follow ends. */
  onError?: (error: Error) => void;
  /** Called whenever the way of following changes or an attempt fails. */
  onStatus?: (status: { mode: Mode; failures: number; waitMs?: number }) => void;
  /** Where the API is (default: the page's own origin). */
  baseUrl?: string;
  pollIntervalMs?: number;
  jitter?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  failuresBeforeFallback?: number;
  retryStreamAfterMs?: number;
  fetch?: typeof fetch;
  random?: () => number;
  now?: () => number;
}

export interface FollowOptions extends Pacing {
  /** Called with each snapshot newer than the one held, oldest first. */
  onSnapshot: (snapshot: Snapshot, mode: Mode) => void;
  /** The first way to try, and the one to come back to (default "stream"). */
  prefer?: Mode;
}

export interface Following {
  /** Stop: aborts the request in flight; nothing is handed to the app afterwards. */
  stop(): void;
  readonly version: number;
  readonly mode: Mode;
  /** Conditional polls answered 304. */
  readonly notModified: number;
}

export function follow(gameId: string, options: FollowOptions): Following;

/** Exponential backoff with full jitter: uniform in [0, min(max, initial * 2^failures)]. */
export function backoff(failures: number, initialMs: number, maxMs: number, random?: () => number): number;

/** A game's row on a board (see the README's scoreboard). */
export interface Row extends Pick<Snapshot, "game_id" | "version" | "status" | "home" | "away" | "start_time" | "day" | "venue" | "season"> {
  [field: string]: unknown;
}

export interface BoardOptions extends Pacing {
  /** Called with the rows of games newer than the version held of each. */
  onRows: (rows: Row[], mode: "stream" | "poll") => void;
  /** The board document polled when the stream keeps failing (default "/v1/scoreboard"). */
  board?: string;
}

export function followBoard(options: BoardOptions): { stop(): void; readonly mode: "stream" | "poll" };
