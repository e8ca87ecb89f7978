# Scorecast on Cloudflare: cache rules for everything the API serves, and an origin rule that
# sends streams and long-polls to the self-hosted push tier (Pushpin behind Cloudflare):
# Cloudflare holds no streams itself.
#
# The origin's CDN-Cache-Control sets the edge TTL and stale-while-revalidate, its strong ETags
# are kept, and the purger purges by Cache-Tag (at the rate the zone's plan allows: the purger's
# SCORECAST_CLOUDFLARE_PLAN). Checked against the provider's source at v4.52.8
# (tests/terraform_schema.json).

terraform {
  required_version = ">= 1.5"
  required_providers {
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 4.40"
    }
  }
}

provider "cloudflare" {
  api_token = var.cloudflare_api_token
}

locals {
  host = "http.host eq \"${var.domain}\""
  # Held connections: SSE streams, and long-polls (a game's snapshot with ?after=).
  streams   = "ends_with(http.request.uri.path, \"/stream\")"
  long_poll = "(starts_with(http.request.uri.path, \"/v1/games/\") and any(http.request.uri.args.names[*] == \"after\") and not http.request.uri.path contains \"/versions/\" and not ends_with(http.request.uri.path, \"/boxscore\"))"
  held      = "(${local.streams} or ${local.long_poll})"
  # Everything cacheable the origin serves: the API, the NBA liveData view, the live page and
  # the client script it loads, the fan site's pages and their assets.
  cacheable = "(http.request.uri.path eq \"/sw.js\" or starts_with(http.request.uri.path, \"/v1/\") or starts_with(http.request.uri.path, \"/liveData/\") or starts_with(http.request.uri.path, \"/live/\") or starts_with(http.request.uri.path, \"/client/\") or http.request.uri.path eq \"/\" or starts_with(http.request.uri.path, \"/day/\") or starts_with(http.request.uri.path, \"/games/\") or starts_with(http.request.uri.path, \"/leagues/\") or starts_with(http.request.uri.path, \"/site/\"))"
  # Providers' signed pushes, routed to the webhook (never cached: POST).
  ingest = "starts_with(http.request.uri.path, \"/v1/ingest/\")"
  # Fans' device registrations, routed to the registration API (never cached: each answer is
  # one device's, behind its credential).
  devices = "(http.request.uri.path eq \"/v1/devices\" or starts_with(http.request.uri.path, \"/v1/devices/\"))"
  # Everything else the public hostname answers: the API's description and the origin's
  # liveness and readiness. No other path reaches anything (a service's figures live on its
  # private listener; this refuses any path that could lead elsewhere).
  public = "(${local.cacheable} or http.request.uri.path in {\"/openapi.json\" \"/healthz\" \"/readyz\"})"
}

resource "cloudflare_ruleset" "scorecast_cache" {
  zone_id     = var.zone_id
  name        = "scorecast cache rules"
  description = "Scorecast API caching"
  kind        = "zone"
  phase       = "http_request_cache_settings"

  rules {
    ref         = "scorecast_streams"
    description = "Held streams and long-polls are never cached"
    expression  = "(${local.host} and ${local.held})"
    action      = "set_cache_settings"
    action_parameters {
      cache = false
    }
  }

  rules {
    ref         = "scorecast_api"
    description = "Snapshots, versions, scoreboard, standings, views, page: TTL from the origin, kept fresh by purges"
    expression  = "(${local.host} and ${local.cacheable} and not ${local.held} and not ${local.ingest} and not ${local.devices})"
    action      = "set_cache_settings"
    action_parameters {
      cache = true
      edge_ttl {
        mode = "respect_origin"
      }
      browser_ttl {
        mode = "respect_origin"
      }
      serve_stale {
        disable_stale_while_updating = false
      }
      # One cache object per resource: no query string is part of what is cached (the only
      # parameters the API defines, after and lastEventId, are on held connections).
      cache_key {
        ignore_query_strings_order = true
        custom_key {
          query_string {
            exclude = ["*"]
          }
        }
      }
      respect_strong_etags       = true
      origin_error_page_passthru = false
    }
  }
}

resource "cloudflare_ruleset" "scorecast_origin" {
  zone_id     = var.zone_id
  name        = "scorecast push tier"
  description = "Streams and long-polls go to the self-hosted push tier"
  kind        = "zone"
  phase       = "http_request_origin"

  rules {
    ref         = "scorecast_push_tier"
    description = "Pushpin holds the connections and asks the origin once per connect (GRIP)"
    expression  = "(${local.host} and ${local.held})"
    action      = "route"
    action_parameters {
      host_header = var.push_host
      origin {
        host = var.push_host
        port = var.push_port
      }
    }
  }

  rules {
    ref         = "scorecast_ingest"
    description = "Providers' signed pushes go to the webhook"
    expression  = "(${local.host} and ${local.ingest})"
    action      = "route"
    action_parameters {
      host_header = var.ingest_host
      origin {
        host = var.ingest_host
        port = var.ingest_port
      }
    }
  }

  rules {
    ref         = "scorecast_devices"
    description = "Fans' device registrations go to the registration API"
    expression  = "(${local.host} and ${local.devices})"
    action      = "route"
    action_parameters {
      host_header = var.devices_host
      origin {
        host = var.devices_host
        port = var.devices_port
      }
    }
  }
}

# Nothing but the public paths: the hostname answers the API, the page and the origin's probes
# with a JSON 404 for the rest, before any origin or tier is asked.
resource "cloudflare_ruleset" "scorecast_firewall" {
  zone_id     = var.zone_id
  name        = "scorecast public paths"
  description = "Only the public paths reach Scorecast"
  kind        = "zone"
  phase       = "http_request_firewall_custom"

  rules {
    ref         = "scorecast_public_only"
    description = "Any path outside the API, the page, the webhook and the probes is refused"
    expression  = "(${local.host} and not ${local.public} and not ${local.ingest})"
    action      = "block"
    action_parameters {
      response {
        status_code  = 404
        content_type = "application/json"
        content      = "{\"error\":{\"status\":404,\"code\":\"not_found\",\"message\":\"no such resource\"}}"
      }
    }
  }
}

# Rate limits per client address (counted per Cloudflare data centre, as Cloudflare always
# does), over 10 s, the one counting period and mitigation timeout every plan accepts. Stream
# and long-poll connects: 5 per 10 s (the self-hosted edge allows 30 a minute). Signed pushes:
# var.ingest_requests_per_10s per provider address. Two rules: a Pro plan or above (Free has
# one, and only the path in its expressions).
resource "cloudflare_ruleset" "scorecast_rate_limits" {
  zone_id     = var.zone_id
  name        = "scorecast rate limits"
  description = "Stream connects and signed pushes per client"
  kind        = "zone"
  phase       = "http_ratelimit"

  rules {
    ref         = "scorecast_stream_connects"
    description = "Stream and long-poll connects per client"
    expression  = "(${local.host} and ${local.held})"
    action      = "block"
    action_parameters {
      response {
        status_code  = 429
        content_type = "application/json"
        content      = "{\"error\":{\"status\":429,\"code\":\"too_many_connects\",\"message\":\"too many stream connects; retry later\"}}"
      }
    }
    ratelimit {
      characteristics     = ["cf.colo.id", "ip.src"]
      period              = 10
      requests_per_period = var.stream_connects_per_10s
      mitigation_timeout  = 10
    }
  }

  rules {
    ref         = "scorecast_ingest_pushes"
    description = "Signed pushes per provider address"
    expression  = "(${local.host} and ${local.ingest})"
    action      = "block"
    action_parameters {
      response {
        status_code  = 429
        content_type = "application/json"
        content      = "{\"error\":{\"status\":429,\"code\":\"too_many_pushes\",\"message\":\"too many pushes; retry later\"}}"
      }
    }
    ratelimit {
      characteristics     = ["cf.colo.id", "ip.src"]
      period              = 10
      requests_per_period = var.ingest_requests_per_10s
      mitigation_timeout  = 10
    }
  }
}
