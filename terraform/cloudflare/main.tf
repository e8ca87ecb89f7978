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
  # the client script it loads.
  cacheable = "(starts_with(http.request.uri.path, \"/v1/\") or starts_with(http.request.uri.path, \"/liveData/\") or starts_with(http.request.uri.path, \"/live/\") or starts_with(http.request.uri.path, \"/client/\"))"
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
    expression  = "(${local.host} and ${local.cacheable} and not ${local.held})"
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
}
