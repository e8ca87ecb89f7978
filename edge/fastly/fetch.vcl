# One object per resource whatever the request's headers (Fastly honours Vary): no answer of
# the API depends on them.
unset beresp.http.Vary;

# Fastly "fetch" snippet: stale-if-error. A failing origin answer is replaced by the stale copy
# while the object is within its stale-if-error window (from Surrogate-Control).
if (beresp.status >= 500 && beresp.status < 600) {
    if (stale.exists) {
        return(deliver_stale);
    }
}

# Never replace a version with an older one (the origin during a Redis rebuild, or a lagging
# replica): keep serving the newer cached copy. Like the Varnish edge, this relies on the
# background revalidation being conditional, so that If-None-Match holds the cached copy's ETag.
# Not yet run on a live Fastly service.
if (beresp.status == 200 && stale.exists && bereq.http.If-None-Match ~ {"^"v([0-9]+)"$"}) {
    declare local var.cached INTEGER;
    set var.cached = std.atoi(re.group.1);
    if (beresp.http.ETag ~ {"^"v([0-9]+)"$"} && std.atoi(re.group.1) < var.cached) {
        return(deliver_stale);
    }
}
