# Fastly "fetch" snippet: stale-if-error. A failing origin answer is replaced by the stale copy
# while the object is within its stale-if-error window (from Surrogate-Control).
if (beresp.status >= 500 && beresp.status < 600) {
    if (stale.exists) {
        return(deliver_stale);
    }
}
