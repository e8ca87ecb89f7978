// Against a running Scorecast edge (the Python suite starts one and sets these): follows a game
// to its final while the suite replays it and cuts its streams, and reports what it saw.
import { test } from "node:test";
import assert from "node:assert/strict";
import { follow } from "../src/scorecast-client.js";

const edge = process.env.SCORECAST_EDGE_URL;
const gameId = process.env.SCORECAST_GAME_ID;

test("follows a replayed game to its final through the real edge", { skip: !edge && "no edge given" }, async () => {
  const versions = [];
  const modes = new Set();
  let final = null;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no final within 120 s")), 120000);
    const following = follow(gameId, {
      baseUrl: edge, backoffInitialMs: 50, backoffMaxMs: 500, pollIntervalMs: 200,
      failuresBeforeFallback: 2, retryStreamAfterMs: 1000,
      onSnapshot(snapshot, mode) {
        versions.push(snapshot.version);
        modes.add(mode);
        if (snapshot.status === "FINAL") {
          final = snapshot;
          following.stop();
          clearTimeout(timer);
          resolve();
        }
      },
      onError: reject,
    });
  });
  console.log(JSON.stringify({ versions, modes: [...modes], final: [final.home.score, final.away.score] }));
  assert.deepEqual(versions, [...new Set(versions)].sort((a, b) => a - b));
  assert.ok(modes.has("stream"));
});
