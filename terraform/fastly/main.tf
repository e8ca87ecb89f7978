# Scorecast on Fastly: a VCL service in front of the origin, shielded, with Fanout for streams.
#
# Fastly reads Surrogate-Control (TTL, stale-while-revalidate, stale-if-error) and
# Surrogate-Key from the origin itself; the purger purges by key through the API. The delivery
# rules are the same file the self-hosted Varnish edge includes (edge/varnish/deliver.vcl).

terraform {
  required_version = ">= 1.5"
  required_providers {
    fastly = {
      source  = "fastly/fastly"
      version = ">= 5.0"
    }
  }
}

provider "fastly" {
  api_key = var.fastly_api_key
}

resource "fastly_service_vcl" "scorecast" {
  name          = var.service_name
  force_destroy = false

  domain {
    name = var.domain
  }

  backend {
    name              = "origin"
    address           = var.origin_host
    port              = var.origin_port
    use_ssl           = true
    ssl_cert_hostname = var.origin_host
    override_host     = var.origin_host
    shield            = var.shield_pop
    healthcheck       = "origin_ready"
    first_byte_timeout    = 5000
    between_bytes_timeout = 10000
  }

  healthcheck {
    name           = "origin_ready"
    host           = var.origin_host
    path           = "/readyz"
    check_interval = 5000
    timeout        = 2000
    window         = 3
    threshold      = 2
    initial        = 2
  }

  snippet {
    name     = "scorecast_recv"
    type     = "recv"
    priority = 100
    content  = file("${path.module}/../../edge/fastly/recv.vcl")
  }

  snippet {
    name     = "scorecast_fetch"
    type     = "fetch"
    priority = 100
    content  = file("${path.module}/../../edge/fastly/fetch.vcl")
  }

  snippet {
    name     = "scorecast_deliver"
    type     = "deliver"
    priority = 100
    content  = file("${path.module}/../../edge/varnish/deliver.vcl")
  }

  product_enablement {
    fanout = true
  }
}
