# Fastly "recv" snippet (terraform/fastly): the same public surface as the self-hosted edge.
if (req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS" && req.method != "FASTLYPURGE") {
    error 405 "only GET, HEAD and OPTIONS are served";
}
if (req.url.path ~ "^/metrics") {
    error 404 "not found";
}
# The API is public and the same for everyone: nothing per user may split the cache.
unset req.http.Cookie;
unset req.http.Authorization;
if (req.url.path ~ "^/v1/(games/[^/]+|scoreboard)/stream$" || req.url.qs ~ "(^|&)after=") {
    # Held connections go to Fanout, which asks the origin once per connect (GRIP).
    return(pass);
}
