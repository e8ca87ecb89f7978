variable "cloudflare_api_token" {
  description = "Cloudflare API token allowed to edit the zone's cache rules."
  type        = string
  sensitive   = true
}

variable "zone_id" {
  description = "The zone's id (32 hex characters); also the purger's SCORECAST_CLOUDFLARE_ZONE_ID."
  type        = string
}

variable "domain" {
  description = "Public hostname fans use (proxied by Cloudflare)."
  type        = string
}
