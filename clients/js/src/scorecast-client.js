// Follow a Scorecast game the way the edge wants to be used, from a browser or Node (>= 18).
//
// - Never hands the app a version at or below the one it holds.
// - Prefers the stream (SSE over fetch, resuming with Last-Event-ID), falls back to long-poll,
//   then to conditional polling (If-None-Match) when a way keeps failing, and goes back to the
//   stream after a while.
// - Waits between attempts with exponential backoff and full jitter, and polls at an interval
//   with jitter, so a crowd that lost its connection together does not come back together.
// - stop() aborts what is in flight; nothing reaches the app after it.

const FALLBACK = { stream: "long-poll", "long-poll": "poll", poll: "poll" };

class Retry extends Error {
  constructor(message, waitMs = 0) {
    super(message);
    this.waitMs = waitMs;
  }
}

// An answer to go on with (200, 204, 304), one to retry later (404: not scheduled yet; 429 and
// 5xx: the edge asks us to wait, Retry-After honoured), or a fatal one (retrying cannot fix it).
function checked(response) {
  const status = response.status;
  if (status === 200 || status === 204 || status === 304) return;
  if (status === 404 || status === 429 || status >= 500) {
    const after = Number(response.headers.get("retry-after"));
    throw new Retry(`answered ${status}`, Number.isFinite(after) ? after * 1000 : 0);
  }
  const error = new Error(`${response.url} answered ${status}`);
  error.fatal = true;
  throw error;
}

// Server-sent events read from a fetch answer: onEvent({ id, event, data }) for each.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let current = { id: null, event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line === "") {
        if (current.data.length) onEvent({ ...current, data: current.data.join("\n") });
        current = { id: null, event: "message", data: [] };
      } else if (line.startsWith("data:")) {
        current.data.push(line.slice(5).replace(/^ /, ""));
      } else if (line.startsWith("event:")) {
        current.event = line.slice(6).trim();
      } else if (line.startsWith("id:")) {
        current.id = line.slice(3).trim();
      }
    }
  }
}

// A wait that ends early, quietly, when the follow is stopped.
function sleeper(signal) {
  return (ms) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// The loop both follows share: one way at a time; after failuresBeforeFallback failures in a
// row the next way (FALLBACK), back to the preferred one after retryStreamAfterMs; waits of
// jittered backoff (or the Retry-After asked); a fatal answer ends it with onError.
async function keepFollowing({ settings, state, sleep, fallback, ways, stopped, end }) {
  while (!stopped()) {
    if (state.fellBackAt !== null && settings.now() - state.fellBackAt >= settings.retryStreamAfterMs) {
      state.mode = settings.prefer;
      state.failures = 0;
      state.fellBackAt = null;
    }
    try {
      await ways[state.mode]();
    } catch (error) {
      if (stopped()) break;
      if (error && error.fatal) {
        end();
        settings.onError(error);
        break;
      }
      state.failures += 1;
      if (state.failures >= settings.failuresBeforeFallback && fallback[state.mode] !== state.mode) {
        state.mode = fallback[state.mode];
        state.failures = 0;
        state.fellBackAt = settings.now();
      }
      const backedOff = backoff(state.failures, settings.backoffInitialMs, settings.backoffMaxMs, settings.random);
      const waitMs = Math.max(backedOff, error instanceof Retry ? error.waitMs : 0);
      settings.onStatus({ mode: state.mode, failures: state.failures, waitMs });
      await sleep(waitMs);
    }
  }
}

// What both follows do unless told otherwise.
function defaults() {
  return {
    baseUrl: globalThis.location ? globalThis.location.origin : "",
    prefer: "stream",
    jitter: 0.2,
    backoffInitialMs: 500,
    backoffMaxMs: 30000,
    failuresBeforeFallback: 3,
    retryStreamAfterMs: 60000,
    fetch: globalThis.fetch.bind(globalThis),
    random: Math.random,
    now: () => Date.now(),
    onError: () => {},
    onStatus: () => {},
  };
}

export function backoff(failures, initialMs, maxMs, random = Math.random) {
  const bound = Math.min(maxMs, initialMs * 2 ** Math.min(failures, 20));
  return random() * bound;
}

export function follow(gameId, options) {
  const settings = { ...defaults(), pollIntervalMs: 2000, ...options };
  const path = `${settings.baseUrl.replace(/\/$/, "")}/v1/games/${encodeURIComponent(gameId)}`;
  const abort = new AbortController();
  const state = { version: 0, mode: settings.prefer, failures: 0, fellBackAt: null, notModified: 0 };
  let stopped = false;

  function accept(snapshot, mode) {
    if (stopped || !snapshot || !Number.isInteger(snapshot.version)) return;
    if (snapshot.version <= state.version) return; // never backwards, never twice
    state.version = snapshot.version;
    state.failures = 0;
    settings.onSnapshot(snapshot, mode);
  }

  const sleep = sleeper(abort.signal);

  async function stream() {
    const headers = { Accept: "text/event-stream" };
    if (state.version) headers["Last-Event-ID"] = String(state.version);
    const response = await settings.fetch(`${path}/stream`, { headers, signal: abort.signal });
    checked(response);
    await readEvents(response, ({ data }) => {
      try { accept(JSON.parse(data), "stream"); } catch { /* not JSON: skip */ }
    });
    throw new Retry("the stream ended");
  }

  async function get(url, headers, mode) {
    const response = await settings.fetch(url, { headers, signal: abort.signal });
    checked(response);
    if (response.status === 304) state.notModified += 1;
    if (response.status === 200) accept(await response.json(), mode);
  }

  const control = {
    settings,
    state,
    sleep,
    fallback: FALLBACK,
    ways: {
      stream,
      "long-poll": () => get(`${path}?after=${state.version}`, {}, "long-poll"),
      async poll() {
        await get(path, state.version ? { "If-None-Match": `"v${state.version}"` } : {}, "poll");
        const spread = settings.jitter * (2 * settings.random() - 1);
        await sleep(settings.pollIntervalMs * (1 + spread));
      },
    },
    stopped: () => stopped,
    end: () => { stopped = true; },
  };

  keepFollowing(control);
  return {
    stop() {
      stopped = true;
      abort.abort();
    },
    get version() { return state.version; },
    get mode() { return state.mode; },
    get notModified() { return state.notModified; },
  };
}

// Follow a board (today's, or a day's) the same way: the scoreboard stream first (the whole
// board, then each changed row), conditional polling of the board's document when the stream
// keeps failing, back to the stream after a while. onRows(rows, mode) gets the rows of games
// newer than the version it holds of each: never an older score after a newer one.
export function followBoard(options) {
  const settings = { ...defaults(), board: "/v1/scoreboard", pollIntervalMs: 5000, ...options };
  const base = settings.baseUrl.replace(/\/$/, "");
  const abort = new AbortController();
  const held = new Map();
  const state = { board: 0, mode: "stream", failures: 0, fellBackAt: null };
  let stopped = false;

  function accept(rows, mode) {
    if (stopped) return;
    const fresh = rows.filter((row) => row && Number.isInteger(row.version)
      && row.version > (held.get(row.game_id) || 0));
    for (const row of fresh) held.set(row.game_id, row.version);
    state.failures = 0;
    if (fresh.length) settings.onRows(fresh, mode);
  }

  const sleep = sleeper(abort.signal);

  async function stream() {
    const headers = { Accept: "text/event-stream" };
    if (state.board) headers["Last-Event-ID"] = String(state.board);
    const response = await settings.fetch(`${base}/v1/scoreboard/stream`, { headers, signal: abort.signal });
    checked(response);
    await readEvents(response, ({ id, event, data }) => {
      let body;
      try { body = JSON.parse(data); } catch { return; }
      if (event === "scoreboard") {
        // The board held (a new day's may have a lower version): what a reconnect names.
        state.board = Number(id) || 0;
        accept(body.games || [], "stream");
      } else {
        accept([body], "stream");
      }
    });
    throw new Retry("the stream ended");
  }

  async function poll() {
    const response = await settings.fetch(`${base}${settings.board}`, { signal: abort.signal });
    checked(response);
    if (response.status === 200) accept((await response.json()).games || [], "poll");
    const spread = settings.jitter * (2 * settings.random() - 1);
    await sleep(settings.pollIntervalMs * (1 + spread));
  }

  const control = {
    settings,
    state,
    sleep,
    fallback: { stream: "poll", poll: "poll" },
    ways: { stream, poll },
    stopped: () => stopped,
    end: () => { stopped = true; },
  };

  keepFollowing(control);
  return {
    stop() {
      stopped = true;
      abort.abort();
    },
    get mode() { return state.mode; },
  };
}
