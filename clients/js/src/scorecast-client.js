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

export function backoff(failures, initialMs, maxMs, random = Math.random) {
  const bound = Math.min(maxMs, initialMs * 2 ** Math.min(failures, 20));
  return random() * bound;
}

export function follow(gameId, options) {
  const settings = {
    baseUrl: globalThis.location ? globalThis.location.origin : "",
    prefer: "stream",
    pollIntervalMs: 2000,
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
    ...options,
  };
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

  function sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      abort.signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }

  function check(response) {
    const status = response.status;
    if (status === 200 || status === 204 || status === 304) return;
    if (status === 404 || status === 429 || status >= 500) {
      // 404: not scheduled yet; 429 and 5xx: the edge asks us to wait.
      const after = Number(response.headers.get("retry-after"));
      throw new Retry(`answered ${status}`, Number.isFinite(after) ? after * 1000 : 0);
    }
    const error = new Error(`${response.url} answered ${status}`);
    error.fatal = true;
    throw error;
  }

  async function stream() {
    const headers = { Accept: "text/event-stream" };
    if (state.version) headers["Last-Event-ID"] = String(state.version);
    const response = await settings.fetch(`${path}/stream`, { headers, signal: abort.signal });
    check(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, "");
        buffer = buffer.slice(end + 1);
        if (line === "") {
          if (data.length) {
            try { accept(JSON.parse(data.join("\n")), "stream"); } catch { /* not JSON: skip */ }
          }
          data = [];
        } else if (line.startsWith("data:")) {
          data.push(line.slice(5).replace(/^ /, ""));
        }
      }
    }
    throw new Retry("the stream ended");
  }

  async function get(url, headers, mode) {
    const response = await settings.fetch(url, { headers, signal: abort.signal });
    check(response);
    if (response.status === 304) state.notModified += 1;
    if (response.status === 200) accept(await response.json(), mode);
  }

  function failed() {
    state.failures += 1;
    if (state.failures >= settings.failuresBeforeFallback && state.mode !== "poll") {
      state.mode = FALLBACK[state.mode];
      state.failures = 0;
      state.fellBackAt = settings.now();
    }
    return backoff(state.failures, settings.backoffInitialMs, settings.backoffMaxMs, settings.random);
  }

  async function run() {
    while (!stopped) {
      if (state.fellBackAt !== null && settings.now() - state.fellBackAt >= settings.retryStreamAfterMs) {
        state.mode = settings.prefer;
        state.failures = 0;
        state.fellBackAt = null;
      }
      try {
        if (state.mode === "stream") {
          await stream();
        } else if (state.mode === "long-poll") {
          await get(`${path}?after=${state.version}`, {}, "long-poll");
        } else {
          await get(path, state.version ? { "If-None-Match": `"v${state.version}"` } : {}, "poll");
          const spread = settings.jitter * (2 * settings.random() - 1);
          await sleep(settings.pollIntervalMs * (1 + spread));
        }
      } catch (error) {
        if (stopped) break;
        if (error && error.fatal) {
          stopped = true;
          settings.onError(error);
          break;
        }
        const waitMs = Math.max(failed(), error instanceof Retry ? error.waitMs : 0);
        settings.onStatus({ mode: state.mode, failures: state.failures, waitMs });
        await sleep(waitMs);
      }
    }
  }

  run();
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
