# What the origin tells the CDN stays in the CDN: stripped where an answer leaves it for a fan,
# kept where a shield answers an edge node of ours (which needs the TTL and the purge keys).
# Shared by the self-hosted edge (edge/varnish/scorecast.vcl) and the Fastly service.
unset resp.http.Surrogate-Control;
unset resp.http.CDN-Cache-Control;
unset resp.http.Surrogate-Key;
unset resp.http.Cache-Tag;
unset resp.http.xkey;
unset resp.http.Via;
unset resp.http.X-Varnish;
