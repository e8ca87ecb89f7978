# Fastly "recv" snippet (terraform/fastly): the same public surface as the self-hosted edge
# (edge/varnish/scorecast.vcl). Synthetic answers are errors 6xx, finished in error.vcl.

# A fan's device registration goes to its own API: never cached (each answer is one device's,
# behind its credential), with its own CORS preflights. Only the API's own paths.
if (req.url.path ~ "^/v1/devices(/|$)") {
    if (req.url.path !~ "^/v1/devices(/key|/[0-9a-f]{32}(/follows)?)?$") {
        error 607 "not found";
    }
    unset req.http.Cookie;
    set req.backend = F_devices;
    return(pass);
}
if (req.method == "OPTIONS") {
    error 604 "preflight";
}
# A URL purge needs a Fastly API token (Fastly lets anyone purge a URL otherwise, which would also
# drop the stale-if-error copy); the purger purges by surrogate key with its token anyway.
if (req.method == "FASTLYPURGE") {
    set req.http.Fastly-Purge-Requires-Auth = "1";
}
if (req.method != "GET" && req.method != "HEAD" && req.method != "FASTLYPURGE") {
    error 605 "only GET, HEAD and OPTIONS are served";
}
# One cache object per resource, and no path the rules below cannot see: the API's paths are
# letters, digits, '.', '_', '-' and '/'. An encoded character, an empty or dot segment can only
# be a way around the rules (/%6detrics, /v1/games/x%2fstream).
if (req.url.path !~ "^/[A-Za-z0-9._/-]*$" || req.url.path ~ "(//|/[.][.]?(/|$))") {
    error 606 "bad path: letters, digits, '.', '_', '-' and '/' only";
}
if (req.url.path ~ "^/metrics") {
    error 607 "not found";
}
# The API is public and the same for everyone: nothing per user may split the cache, nor reach
# the origin (the edge answers CORS for every origin alike).
unset req.http.Cookie;
unset req.http.Authorization;
unset req.http.Origin;
# Held connections live on the Compute service with Fanout (its own hostname): a delivery
# service cannot hold them. A fan pointed here is redirected there (307, error.vcl), as the
# self-hosted edge redirects to its stream tier: EventSource and fetch follow it, and each
# reconnect comes back here first.
if (req.url.path ~ "^/v1/(games/[^/]+|scoreboard)/stream$"
    || (req.url.path ~ "^/v1/games/[^/]+$" && req.url.qs ~ "(^|&)after=")) {
    error 608 "held at the stream hostname";
}
# No query parameter is part of a cacheable resource: drop them all, so that no junk query
# string makes a new object (and an origin fetch).
set req.url = req.url.path;
