# Fastly "error" snippet (terraform/fastly): the synthetic answers of recv.vcl, in the API's JSON
# error shape, and stale-if-error for origin failures that never produced an answer (refused
# connections, timeouts), which Fastly hands to vcl_error as 503.
if (obj.status == 503 && stale.exists) {
    return(deliver_stale);
}
if (obj.status == 604) {
    set obj.status = 204;
    set obj.response = "No Content";
    set obj.http.Access-Control-Allow-Origin = "*";
    set obj.http.Access-Control-Allow-Methods = "GET, HEAD, OPTIONS";
    set obj.http.Access-Control-Allow-Headers = "If-None-Match, Last-Event-ID, Cache-Control";
    set obj.http.Access-Control-Max-Age = "86400";
    return(deliver);
}
if (obj.status == 608) {
    # The stream hostname is written in by Terraform (terraform/fastly: var.stream_domain).
    set obj.status = 307;
    set obj.response = "Temporary Redirect";
    set obj.http.Location = "https://__SCORECAST_STREAM_DOMAIN__" req.url;
    set obj.http.Access-Control-Allow-Origin = "*";
    set obj.http.Cache-Control = "no-store";
    set obj.http.Content-Type = "application/json";
    synthetic {"{"location":""} obj.http.Location {""}"};
    return(deliver);
}
declare local var.code STRING;
if (obj.status == 605) {
    set obj.status = 405;
    set obj.http.Allow = "GET, HEAD, OPTIONS";
    set var.code = "method_not_allowed";
} elsif (obj.status == 606) {
    set obj.status = 400;
    set var.code = "bad_path";
} elsif (obj.status == 607) {
    set obj.status = 404;
    set var.code = "not_found";
} elsif (obj.status == 503) {
    set obj.http.Retry-After = "1";
    set var.code = "origin_unavailable";
} else {
    set var.code = "edge";
}
set obj.http.Content-Type = "application/json";
set obj.http.Cache-Control = "no-store";
set obj.http.Access-Control-Allow-Origin = "*";
synthetic {"{"error":{"status":"} obj.status {","code":""} var.code {"","message":""} obj.response {""}}"};
return(deliver);
