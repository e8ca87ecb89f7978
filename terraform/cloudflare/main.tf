# Scorecast on Cloudflare: cache rules for the API (zone phase http_request_cache_settings).
#
# The origin's CDN-Cache-Control sets the edge TTL and stale-while-revalidate, its strong ETags
# are kept, and the purger purges by Cache-Tag. Streams and long-polls are never cached.

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

resource "cloudflare_ruleset" "scorecast_cache" {
  zone_id     = var.zone_id
  name        = "scorecast cache rules"
  description = "Scorecast API caching"
  kind        = "zone"
  phase       = "http_request_cache_settings"

  rules {
    ref         = "scorecast_streams"
    description = "Held streams and long-polls pass through"
    expression  = "(http.host eq \"${var.domain}\" and (ends_with(http.request.uri.path, \"/stream\") or http.request.uri.query contains \"after=\"))"
    action      = "set_cache_settings"
    action_parameters {
      cache = false
    }
  }

  rules {
    ref         = "scorecast_api"
    description = "Snapshots, versions, scoreboard, standings: TTL from the origin, kept fresh by purges"
    expression  = "(http.host eq \"${var.domain}\" and starts_with(http.request.uri.path, \"/v1/\") and not ends_with(http.request.uri.path, \"/stream\") and not http.request.uri.query contains \"after=\")"
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
      respect_strong_etags       = true
      origin_error_page_passthru = false
    }
  }
}
