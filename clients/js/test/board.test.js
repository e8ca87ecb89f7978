import { test } from "node:test";
import assert from "node:assert/strict";
import { until } from "../test-support/until.js";
import { followBoard } from "../src/scorecast-client.js";

const FAST = { backoffInitialMs: 1, backoffMaxMs: 5, pollIntervalMs: 5, baseUrl: "http://edge" };

function events(text) {
  return new Response(new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  }), { status: 200, headers: { "content-type": "text/event-stream" } });
}

const row = (game, version, home) => ({ game_id: game, version, home: { score: home } });

test("a board's rows never go back, each game on its own, and a reconnect resumes the board", async () => {
  const calls = [];
  const got = [];
  const whole = { version: 9, games: [row("a", 4, 10), row("b", 5, 20)] };
  const fetch = async (url, init) => {
    calls.push({ url, headers: init.headers });
    if (calls.length === 1) {
      return events(
        `id: 9\nevent: scoreboard\ndata: ${JSON.stringify(whole)}\n\n`
        + `event: score\ndata: ${JSON.stringify(row("a", 6, 12))}\n\n`
        + `event: score\ndata: ${JSON.stringify(row("a", 5, 11))}\n\n` // older: dropped
        + `event: state\ndata: ${JSON.stringify(row("b", 5, 20))}\n\n`, // held: dropped
      );
    }
    return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new Error("aborted"))));
  };
  const board = followBoard({ ...FAST, fetch, onRows: (rows) => got.push(...rows.map((r) => [r.game_id, r.version])) });
  await until(() => calls.length === 2);
  board.stop();
  assert.deepEqual(got, [["a", 4], ["b", 5], ["a", 6]]);
  assert.equal(calls[0].url, "http://edge/v1/scoreboard/stream");
  assert.equal(calls[1].headers["Last-Event-ID"], "9");
});

test("a board falls back to polling its document when the stream keeps failing", async () => {
  const seen = [];
  const got = [];
  const fetch = async (url) => {
    seen.push(url);
    if (url.endsWith("/stream")) return new Response("", { status: 503 });
    return Response.json({ version: 3, games: [row("a", 3, 1)] });
  };
  const board = followBoard({
    ...FAST, fetch, failuresBeforeFallback: 2, board: "/v1/scoreboard/2026-04-12",
    onRows: (rows, mode) => got.push([rows[0].version, mode]),
  });
  await until(() => seen.length >= 5);
  board.stop();
  assert.deepEqual(seen.slice(0, 3), [
    "http://edge/v1/scoreboard/stream",
    "http://edge/v1/scoreboard/stream",
    "http://edge/v1/scoreboard/2026-04-12",
  ]);
  assert.deepEqual(got, [[3, "poll"]]); // polled again and again: handed once
  assert.equal(board.mode, "poll");
});
