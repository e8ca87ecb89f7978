import { test } from "node:test";
import assert from "node:assert/strict";
import { until } from "../test-support/until.js";
import { backoff, follow } from "../src/scorecast-client.js";

const FAST = { backoffInitialMs: 1, backoffMaxMs: 5, pollIntervalMs: 5, baseUrl: "http://edge" };

function sse(...versions) {
  const text = versions.map((v) => `id: ${v}\nevent: score\ndata: {"version":${v}}\n\n`).join("");
  return new Response(new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(": hello\n\n" + text));
      controller.close();
    },
  }), { status: 200, headers: { "content-type": "text/event-stream" } });
}

// A request that never answers until it is aborted, as a held stream with nothing new.
function held(signal) {
  return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
}

test("never hands the app a version at or below the one it holds, and resumes from it", async () => {
  const calls = [];
  const got = [];
  const fetch = async (url, init) => {
    calls.push({ url, headers: init.headers });
    return calls.length === 1 ? sse(1, 2, 2, 1, 3) : calls.length === 2 ? sse(3, 2, 4) : held(init.signal);
  };
  const following = follow("g1", { ...FAST, fetch, onSnapshot: (s) => got.push(s.version) });
  await until(() => got.length === 4 && calls.length === 3);
  following.stop();
  assert.deepEqual(got, [1, 2, 3, 4]);
  assert.equal(calls[0].url, "http://edge/v1/games/g1/stream");
  assert.equal(calls[0].headers["Last-Event-ID"], undefined);
  assert.equal(calls[1].headers["Last-Event-ID"], "3");
  assert.equal(calls[2].headers["Last-Event-ID"], "4");
});

test("falls back from the stream to long-poll to polling, then returns to the stream", async () => {
  let clock = 0;
  const seen = [];
  const got = [];
  const fetch = async (url, init) => {
    const way = url.endsWith("/stream") ? "stream" : url.includes("?after=") ? "long-poll" : "poll";
    seen.push(way);
    if (way !== "poll") return new Response("", { status: 503 });
    if (init.headers["If-None-Match"] === '"v7"') return new Response(null, { status: 304 });
    return Response.json({ version: 7 });
  };
  const following = follow("g1", {
    ...FAST, fetch, failuresBeforeFallback: 2, retryStreamAfterMs: 1000, now: () => clock,
    onSnapshot: (s, mode) => got.push([s.version, mode]),
  });
  await until(() => following.notModified >= 5);
  assert.deepEqual(seen.slice(0, 5), ["stream", "stream", "long-poll", "long-poll", "poll"]);
  assert.deepEqual(got, [[7, "poll"]]); // a burst of 304s hands the app nothing
  clock = 2000;
  const before = seen.length;
  await until(() => seen.slice(before).includes("stream"));
  following.stop();
});

test("reconnect waits are jittered and bounded", () => {
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const firsts = new Set();
  for (let i = 0; i < 200; i++) {
    const wait = backoff(1, 500, 8000, random);
    assert.ok(wait >= 0 && wait <= 1000);
    firsts.add(Math.round(wait));
  }
  assert.ok(firsts.size > 150, "a crowd that lost the stream together comes back spread out");
  assert.ok(backoff(30, 500, 8000, () => 1) <= 8000);
});

test("stop aborts the request in flight and nothing reaches the app after it", async () => {
  const got = [];
  let aborted = false;
  let calls = 0;
  const fetch = async (url, init) => {
    calls += 1;
    init.signal.addEventListener("abort", () => { aborted = true; });
    return calls === 1 ? sse(1) : held(init.signal);
  };
  const following = follow("g1", { ...FAST, fetch, onSnapshot: (s) => got.push(s.version) });
  await until(() => got.length === 1 && calls === 2);
  following.stop();
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.ok(aborted);
  assert.equal(calls, 2);
  assert.deepEqual(got, [1]);
});

test("an answer retrying cannot fix ends the follow with one error", async () => {
  let calls = 0;
  const errors = [];
  const fetch = async () => { calls += 1; return new Response("{}", { status: 400 }); };
  follow("bad id", { ...FAST, fetch, onSnapshot: () => {}, onError: (e) => errors.push(e) });
  await until(() => errors.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(calls, 1);
  assert.match(errors[0].message, /400/);
});
