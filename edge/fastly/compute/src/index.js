/// <reference types="@fastly/js-compute" />
// Scorecast's stream service on Fastly Compute. Fanout is a Compute product: a VCL (delivery)
// service cannot hand a request to it. Streams (/v1/games/{id}/stream, /v1/scoreboard/stream)
// and long-polls (/v1/games/{id}?after=N) are handed to Fanout, which asks the origin once per
// connect and holds the connection (GRIP: the origin answers with Grip-Hold and Grip-Channel);
// the publisher publishes each version to this service's Fanout. Nothing else is served here:
// the cacheable API lives on the VCL service's hostname, and this one passes nothing to the
// origin uncached.
import { EdgeRateLimiter, PenaltyBox, RateCounter } from "fastly:edge-rate-limiter";
import { createFanoutHandoff } from "fastly:fanout";

const BACKEND = "origin";
const STREAM = /^\/v1\/(games\/[A-Za-z0-9._-]{1,64}|scoreboard)\/stream$/;
const LONG_POLL = /^\/v1\/games\/[A-Za-z0-9._-]{1,64}$/;
// Stream connects per client, as the self-hosted edge allows (30 a minute: 0.5 a second over
// Fastly's 60 s window); a client past it waits a minute in the penalty box. Keyed by the
// address Fastly saw (the client's own, never a header it could forge). Edge Rate Limiting must
// be enabled on the account.
const CONNECTS_PER_SECOND = 0.5;
const PENALTY_MINUTES = 1;

addEventListener("fetch", (event) => event.respondWith(handle(event.request, event.client.address)));

function error(status, code, message) {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: {
      "Content-Type": "application/json",
      "Cache-Control": "no-store",
      "Access-Control-Allow-Origin": "*",
    },
  });
}

function handle(request, client) {
  const url = new URL(request.url);
  if (request.method === "OPTIONS") {
    return new Response(null, {
      status: 204,
      headers: {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "If-None-Match, Last-Event-ID, Cache-Control",
        "Access-Control-Max-Age": "86400",
      },
    });
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    return error(405, "method_not_allowed", "only GET, HEAD and OPTIONS are served");
  }
  // Decoded once, so that no encoding (%2f, %6d…) reaches a rule the plain path would not.
  let path;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return error(400, "bad_path", "the path is not valid percent-encoding");
  }
  if (path.startsWith("/metrics")) {
    return error(404, "not_found", "not found");
  }
  if (STREAM.test(path) || (LONG_POLL.test(path) && url.searchParams.has("after"))) {
    // Opened per request: the rate limiter cannot be opened at build-time initialization.
    const limiter = new EdgeRateLimiter(
      new RateCounter("stream_connects"),
      new PenaltyBox("stream_clients"),
    );
    if (limiter.checkRate(client, 1, 60, CONNECTS_PER_SECOND, PENALTY_MINUTES)) {
      return error(429, "too_many_connects", "too many stream connects from this address");
    }
    return createFanoutHandoff(request, BACKEND);
  }
  return error(404, "not_found", "only streams and long-polls are served on this hostname");
}
