vcl 4.1;

# Scorecast edge for Varnish 7 with varnish-modules (xkey).
#
# - Objects live as long as the origin's Surrogate-Control max-age says: purges keep them fresh,
#   the TTL only bounds staleness if a purge is lost.
# - Grace comes from Surrogate-Control stale-if-error; while the origin is healthy a request
#   accepts only a short grace (stale-while-revalidate), so a soft purge is followed by one
#   background refresh while everyone else gets the previous version for those milliseconds.
# - Soft purge by surrogate key: PURGE with "xkey-softpurge: key1 key2", from the purge ACL and
#   with the right Purge-Token. The purger then asks for each purged game with a HEAD carrying
#   "Scorecast-Refresh: 1" (from the purge ACL only), so what the edge holds is refreshed at
#   once and a fan's first read after a score is the new version.
# - Concurrent misses on one object collapse into one origin request (Varnish's default).
#
# The deployment-specific part lives in "scorecast-site.vcl", which must define:
#   backend origin { ... }          the origin, with a probe on /readyz (or several origins)
#   sub scorecast_origin { }        set req.backend_hint: the origin, or a director's pick
#                                   among several (round robin, each with its probe)
#   sub scorecast_stream_tier { }   set req.http.X-Scorecast-Stream-Tier to the stream tier's base
#                                   URL (nchan or Pushpin, its own listener), where streams and
#                                   long-polls are sent with a 307
#   acl scorecast_purgers { ... }   who may send PURGE
#   sub scorecast_purge_token { }   return (synth(403, ...)) unless the Purge-Token is right
#   sub scorecast_stream_limit { }  return (synth(429, ...)) for a client opening streams too
#                                   fast (vsthrottle; the limit depends on the deployment)
#   sub scorecast_inner_tier { }    set req.http.X-Scorecast-Inner when the request comes from an
#                                   edge node of ours (a shared tier token), and drop the token
#   sub scorecast_upstream { }      in vcl_backend_fetch: an edge node in front of a shield sends
#                                   the tier token; a single tier or the shield itself, nothing
#   sub scorecast_devices { }       set req.backend_hint to the device registration API, after
#                                   its rate limit (vsthrottle); or answer 404 where it is not

import std;
import str;
import vsthrottle;
import xkey;

include "scorecast-site.vcl";

sub vcl_recv {
    # Only our own edge nodes may ask for what the CDN keeps to itself (two tiers: edge nodes
    # in front of a shield, as Fastly's shielding does).
    unset req.http.X-Scorecast-Inner;
    call scorecast_inner_tier;
    call scorecast_origin;
    unset req.http.X-Cache;
    if (req.restarts == 0) {
        unset req.http.X-Scorecast-Stale;
    }
    call scorecast_normalize;

    if (req.method == "PURGE") {
        if (client.ip !~ scorecast_purgers) {
            return (synth(403, "purge not allowed from this address"));
        }
        call scorecast_purge_token;
        if (req.http.xkey-softpurge !~ "[^ ]") {
            return (synth(400, "PURGE needs an xkey-softpurge header"));
        }
        set req.http.X-Purged = xkey.softpurge(req.http.xkey-softpurge);
        return (synth(200, "purged"));
    }
    unset req.http.Scorecast-Held-Stale;
    if (req.http.Scorecast-Refresh && (req.method != "HEAD" || client.ip !~ scorecast_purgers)) {
        # A refresh (below) is the purger's alone.
        unset req.http.Scorecast-Refresh;
    }
    if (req.url ~ "^/v1/devices([/?]|$)") {
        # A fan's device registration: never cached (each answer is that device's, behind its
        # credential), its own CORS (the API answers its preflights), rate-limited per client.
        call scorecast_devices;
        unset req.http.Cookie;
        return (pass);
    }
    if (req.method == "OPTIONS") {
        return (synth(204, "preflight"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (synth(405, "only GET, HEAD and OPTIONS are served"));
    }
    if (req.url ~ "^/metrics") {
        return (synth(404, "not found"));
    }
    if (req.url ~ "^/v1/(games/[^/?]+|scoreboard)/stream" || req.url ~ "^/v1/games/[^/?]+[?](.*&)?after=") {
        if (req.url !~ "^/[A-Za-z0-9._/-]*([?][A-Za-z0-9._=&-]*)?$") {
            return (synth(400, "bad path: letters, digits, '.', '_', '-' and '/' only"));
        }
        call scorecast_stream_limit;
        # Held connections live beside the cache, not through it: a piped stream would hold a
        # Varnish thread and copy every event. Clients follow the redirect (EventSource and
        # fetch do) and reconnect here, so the rate limit above stays in force.
        call scorecast_stream_tier;
        return (synth(307, "held at the stream tier"));
    }

    # The API is public and the same for everyone: nothing per user may split the cache, nor
    # reach the origin (the edge answers CORS for every origin alike).
    unset req.http.Cookie;
    unset req.http.Authorization;
    unset req.http.Origin;
    set req.url = std.querysort(req.url);

    if (req.restarts > 0 && req.http.X-Scorecast-Stale) {
        # The origin answered this request with an error although its probe passes: a stale
        # copy within its own stale-if-error grace is better than the error.
        set req.grace = 365d;
        return (hash);
    }
    if (req.http.X-Scorecast-Inner) {
        # An edge node of ours refreshing after a purge must get the new copy, not this
        # shield's stale one, which it would then keep for the whole TTL. Its concurrent
        # refreshes still collapse into one origin fetch; if the origin fails, the stale copy
        # comes through stale-if-error after all.
        set req.grace = 0s;
    } elsif (std.healthy(req.backend_hint)) {
        # Healthy origin: stale only while one background fetch refreshes the object.
        set req.grace = 10s;
    }
    return (hash);
}

# One cache object per resource, and no path the rules below cannot see (architecture
# invariant 9): the path as the API spells it, with only the query parameters the API defines.
sub scorecast_normalize {
    if (req.url ~ "^.{2049}") {
        # No resource of the API is this long (RFC 9110 section 15.5.15).
        return (synth(414, "URI too long"));
    }
    if (req.url ~ "^[A-Za-z][A-Za-z0-9+.-]*://") {
        # Absolute form (RFC 9112 section 3.2.2): the authority is not part of the resource.
        # With no path it names "/" (an empty URL would fail the request: 503). One slash
        # goes with the authority, so a doubled one after it is still seen below.
        set req.url = regsub(req.url, "^[A-Za-z][A-Za-z0-9+.-]*://[^/?]*/?", "/");
    }
    # The API's paths are letters, digits, '.', '_', '-' and '/': an encoded character, an empty
    # or dot segment can only be a way around the rules (/%6detrics, /v1/games/x%2fstream).
    if (req.url !~ "^/[A-Za-z0-9._/-]*([?].*)?$" || req.url ~ "^[^?]*(//|/[.][.]?(/|[?]|$))") {
        return (synth(400, "bad path: letters, digits, '.', '_', '-' and '/' only"));
    }
    if (req.url ~ "^/v1/games/[^/?]+[?]") {
        set req.url = regsuball(req.url, "(?<=[?&])(?!after=)[^&]*(&|$)", "");
    } elsif (req.url ~ "^/v1/(games/[^/?]+|scoreboard)/stream[?]") {
        set req.url = regsuball(req.url, "(?<=[?&])(?!lastEventId=)[^&]*(&|$)", "");
    } else {
        set req.url = regsub(req.url, "[?].*$", "");
    }
    set req.url = regsub(req.url, "[?&]+$", "");
}

sub vcl_hash {
    # One site per edge: the Host header must not split objects (localhost vs 127.0.0.1).
    hash_data(req.url);
    return (lookup);
}

sub vcl_hit {
    if (req.http.Scorecast-Refresh && obj.ttl <= 0s) {
        set req.http.Scorecast-Held-Stale = "1";
    }
}

sub vcl_miss {
    if (req.http.Scorecast-Refresh) {
        # The purger's HEAD right after a purge, so the edge refreshes what it holds at once,
        # not when the next fan asks (who would be served the previous version while it
        # refreshes): a stale hit starts that refresh. What the edge does not hold, nobody
        # read: it is not fetched for the refresh.
        return (synth(404, "not held at this edge"));
    }
}

sub vcl_backend_fetch {
    call scorecast_upstream;
    # An origin that just failed this resource is not asked again for 2 s: background
    # refreshes stop and keep the stale copy; a fan's own fetch (its copy older than a healthy
    # origin's 10 s of grace) ends in vcl_synth, which looks for that copy. Fans queued behind
    # a fetch that failed so each fail at once instead of each waiting on the origin in turn.
    if (vsthrottle.remaining("failed:" + bereq.url, 1, 2s) == 0) {
        return (abandon);
    }
}

sub scorecast_failed {
    if (vsthrottle.is_denied("failed:" + bereq.url, 1, 2s)) {
        std.log("origin failing for " + bereq.url);
    }
}

sub vcl_backend_response {
    # One object per resource whatever the request's headers: no answer of the API depends on
    # them, and a Vary from the origin (a CORS library's "Vary: Origin") would make every
    # distinct value a new object and an origin fetch.
    unset beresp.http.Vary;
    if (beresp.status >= 500) {
        # Never cache a failure, nor let it replace a stale copy (stale-if-error): a background
        # refresh just stops; a client's own fetch ends in vcl_synth, which looks for that copy.
        call scorecast_failed;
        return (abandon);
    }
    # Never replace a version with an older one. While Redis is rebuilt from the feed (or a
    # lagging replica answers) the origin can briefly serve versions the edge has passed; keep
    # serving the newer stale copy, and the next request asks again. The background refresh is
    # conditional, so If-None-Match holds the cached copy's ETag.
    if (bereq.is_bgfetch && beresp.status == 200
        && bereq.http.If-None-Match ~ {"^"v[0-9]+"$"} && beresp.http.ETag ~ {"^"v[0-9]+"$"}
        && std.integer(regsub(beresp.http.ETag, {"^"v([0-9]+)"$"}, "\1"), 0)
            < std.integer(regsub(bereq.http.If-None-Match, {"^"v([0-9]+)"$"}, "\1"), 0)) {
        return (abandon);
    }
    if (beresp.http.Surrogate-Control) {
        if (beresp.http.Surrogate-Control ~ "(^|[ ,])max-age=[0-9]+") {
            set beresp.ttl = std.duration(
                regsub(beresp.http.Surrogate-Control, "^(.*[ ,])?max-age=([0-9]+).*$", "\2s"), 0s);
        }
        if (beresp.http.Surrogate-Control ~ "stale-if-error=[0-9]+") {
            set beresp.grace = std.duration(
                regsub(beresp.http.Surrogate-Control, "^.*stale-if-error=([0-9]+).*$", "\1s"), 0s);
        } elsif (beresp.http.Surrogate-Control ~ "stale-while-revalidate=[0-9]+") {
            set beresp.grace = std.duration(
                regsub(beresp.http.Surrogate-Control, "^.*stale-while-revalidate=([0-9]+).*$", "\1s"), 0s);
        } else {
            set beresp.grace = 0s;
        }
        # Keep objects a little past grace so the background refresh can be conditional.
        set beresp.keep = 60s;
        if (beresp.http.Surrogate-Key) {
            set beresp.http.xkey = beresp.http.Surrogate-Key;
        }
        # Cache-Control is for browsers; skip the built-in rules that would treat it as ours.
        return (deliver);
    }
}

sub vcl_backend_error {
    call scorecast_failed;
    if (bereq.is_bgfetch) {
        return (abandon);  # the stale copy stays
    }
    # Never cached. Varnish keeps a failed fetch's error 1 s (and 5 s of grace) when requests
    # were queued behind it; kept, it hid the stale copy from those requests and from the
    # look again below, and fans got 503s while a copy was there (a 1,000-game match day with
    # its origin overloaded: 98 in one run).
    set beresp.ttl = 0s;
    set beresp.grace = 0s;
    set beresp.keep = 0s;
    set beresp.http.Content-Type = "application/json";
    set beresp.http.Cache-Control = "no-store";
    set beresp.http.Retry-After = "1";
    synthetic("""{"error":{"status":503,"code":"origin_unavailable","message":"origin unavailable, retry shortly"}}""");
    return (deliver);
}

sub scorecast_stale_if_error {
    if (req.restarts == 0 && req.method == "GET") {
        # The origin failed although its probe may still pass: look again, accepting a copy's
        # whole stale-if-error grace; where there is none the error goes out after all.
        set req.http.X-Scorecast-Stale = "1";
        return (restart);
    }
}

sub vcl_deliver {
    if (resp.status >= 500) {
        call scorecast_stale_if_error;
    }
    if (req.http.Scorecast-Refresh) {
        # The purger looks again a moment after a purge: a copy held fresh at an older version
        # than it announced came from a refresh that began before the purge and ended after it
        # (the purge does not reach a fetch under way), and is purged again.
        if (req.http.Scorecast-Held-Stale) {
            set resp.http.Scorecast-Fresh = "0";
        } else {
            set resp.http.Scorecast-Fresh = "1";
        }
    }
    # If-None-Match may list several validators, or be "*" (RFC 9110 section 13.1.2); Varnish
    # compares only one. Where a listed one matches, hand Varnish that one: 304 as at the origin.
    if (resp.status == 200 && resp.http.ETag && req.http.If-None-Match
        && (req.http.If-None-Match ~ "^[ ]*[*][ ]*$"
            || str.contains(req.http.If-None-Match, resp.http.ETag))) {
        set req.http.If-None-Match = resp.http.ETag;
    }
    if (!req.http.X-Scorecast-Inner) {
        # The answer leaves for a fan (Fastly's test: fastly.ff.visits_this_service == 0).
        include "strip.vcl";
    }
    # Shared with the Fastly service (terraform/fastly): valid in both dialects.
    include "deliver.vcl";
}

sub vcl_synth {
    if (resp.status == 503) {
        call scorecast_stale_if_error;
    }
    unset resp.http.X-Varnish;
    set resp.http.Content-Type = "application/json";
    set resp.http.Cache-Control = "no-store";
    if (resp.status == 204) {
        set resp.http.Access-Control-Allow-Origin = "*";
        set resp.http.Access-Control-Allow-Methods = "GET, HEAD, OPTIONS";
        set resp.http.Access-Control-Allow-Headers = "If-None-Match, Last-Event-ID, Cache-Control";
        set resp.http.Access-Control-Max-Age = "86400";
        return (deliver);
    }
    if (resp.status == 307) {
        set resp.http.Location = req.http.X-Scorecast-Stream-Tier + req.url;
        set resp.http.Access-Control-Allow-Origin = "*";
        synthetic({"{"location":""} + resp.http.Location + """"}""");
        return (deliver);
    }
    if (resp.status == 405) {
        set resp.http.Allow = "GET, HEAD, OPTIONS";
    }
    if (resp.status == 429) {
        set resp.http.Retry-After = "60";
    }
    if (req.method == "PURGE" && resp.status == 200) {
        synthetic("""{"purged":""" + req.http.X-Purged + "}");
        return (deliver);
    }
    synthetic({"{"error":{"status":"} + resp.status + {","code":"edge","message":""}
        + resp.reason + """"}}""");
    return (deliver);
}
