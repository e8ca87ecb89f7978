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

variable "ingest_host" {
  description = "Hostname of the webhook providers push to (scorecast ingest), reached through Cloudflare at /v1/ingest/."
  type        = string
}

variable "ingest_port" {
  description = "Port of the webhook."
  type        = number
  default     = 443
}

variable "devices_host" {
  description = "Host of the device registration API (scorecast devices)."
  type        = string
}

variable "devices_port" {
  description = "Port of the device registration API."
  type        = number
  default     = 443
}

variable "stream_connects_per_10s" {
  description = "Stream and long-poll connects one client address may open per 10 s (5: the self-hosted edge's 30 a minute)."
  type        = number
  default     = 5
}

variable "ingest_requests_per_10s" {
  description = "Signed pushes one provider address may send per 10 s."
  type        = number
  default     = 200
}
