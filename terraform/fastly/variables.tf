variable "fastly_api_key" {
  description = "Fastly API token with global scope (service configuration)."
  type        = string
  sensitive   = true
}

variable "service_name" {
  description = "Name of the Fastly service."
  type        = string
  default     = "scorecast"
}

variable "domain" {
  description = "Public hostname fans use (a CNAME to Fastly)."
  type        = string
}

variable "origin_host" {
  description = "Hostname of the Scorecast origin (TLS)."
  type        = string
}

variable "origin_port" {
  description = "Origin port."
  type        = number
  default     = 443
}

variable "shield_pop" {
  description = "Shield POP code in front of the origin (e.g. \"iad-va-us\"); all edge POPs fetch through it."
  type        = string
}

variable "stream_domain" {
  description = "Public hostname of streams and long-polls (a CNAME to Fastly), served by the Compute service with Fanout."
  type        = string
}

variable "devices_host" {
  description = "Host of the device registration API (scorecast devices), reached at /v1/devices."
  type        = string
}

variable "devices_port" {
  description = "Port of the device registration API."
  type        = number
  default     = 443
}
