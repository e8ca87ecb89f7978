# Delivery rules shared by the self-hosted edge (Varnish 7, included in vcl_deliver) and the
# Fastly service (a "deliver" snippet, see terraform/fastly): only statements both dialects share.
# What is stripped before an answer leaves for a fan is strip.vcl, included by each dialect
# under its own test of "this answer goes to a fan, not to another tier of ours".

if (obj.hits > 0) {
    set resp.http.X-Cache = "HIT";
} else {
    set resp.http.X-Cache = "MISS";
}
# Purges keep this copy as fresh as the origin's: its age at the edge says nothing to a
# browser, and would make the short browser max-age expire on arrival. For the same reason the
# Date is the delivery's, not the fetch's (RFC 9111 section 4.2.3 counts age from Date too).
unset resp.http.Age;
set resp.http.Date = now;
set resp.http.Access-Control-Allow-Origin = "*";
set resp.http.Access-Control-Expose-Headers = "ETag";
