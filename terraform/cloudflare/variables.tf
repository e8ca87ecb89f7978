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

variable "push_host" {
  description = "Hostname of the self-hosted push tier (Pushpin in front of the origin) that holds streams and long-polls."
  type        = string
}

variable "push_port" {
  description = "Port of the push tier."
  type        = number
  default     = 443
}
