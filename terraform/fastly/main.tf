# Scorecast on Fastly, two services, as Fastly splits the products:
#
# - var.domain → the VCL (delivery) service: every cacheable read, shielded. Fastly reads
#   Surrogate-Control (TTL, stale-while-revalidate, stale-if-error) and Surrogate-Key from the
#   origin; the purger purges by key through the API (SCORECAST_FASTLY_SERVICE_ID = this one).
#   A stream or long-poll asked here is redirected (307) to var.stream_domain, so a fan given
#   the one public hostname streams.
# - var.stream_domain → the Compute service with Fanout (Fanout is a Compute product; a VCL
#   service cannot hand a request to it): edge/fastly/compute hands streams and long-polls to
#   Fanout, which asks the origin once per connect (GRIP); the publisher publishes to this
#   service's Fanout (its SCORECAST_FASTLY_SERVICE_ID = output stream_service_id).
#
# Checked against the provider's source at v9.5.1 (tests/terraform_schema.json).

terraform {
  required_version = ">= 1.5"
  required_providers {
    fastly = {
      source  = "fastly/fastly"
      version = "~> 9.5"
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

  # Fans' device registrations (/v1/devices, chosen in recv.vcl): never cached, not shielded.
  backend {
    name                  = "devices"
    address               = var.devices_host
    port                  = var.devices_port
    use_ssl               = true
    ssl_cert_hostname     = var.devices_host
    override_host         = var.devices_host
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
    name     = "scorecast_error"
    type     = "error"
    priority = 100
    # Streams and long-polls asked here are redirected to the Compute service's hostname.
    content = replace(
      file("${path.module}/../../edge/fastly/error.vcl"),
      "__SCORECAST_STREAM_DOMAIN__",
      var.stream_domain,
    )
  }

  snippet {
    name     = "scorecast_fetch"
    type     = "fetch"
    priority = 100
    content  = file("${path.module}/../../edge/fastly/fetch.vcl")
  }

  # The self-hosted edge's delivery rules; CDN headers are stripped only on the first visit of
  # this service (the POP a fan asked): with shielding, vcl_deliver also runs on the shield
  # answering an edge POP, which needs the TTL and the surrogate keys.
  snippet {
    name     = "scorecast_deliver"
    type     = "deliver"
    priority = 100
    content  = "if (fastly.ff.visits_this_service == 0) {\n${file("${path.module}/../../edge/varnish/strip.vcl")}}\n${file("${path.module}/../../edge/varnish/deliver.vcl")}"
  }
}

# Built by scripts/build-compute (npm and js-compute-runtime; the suite builds it too).
data "fastly_package_hash" "streams" {
  filename = "${path.module}/../../edge/fastly/compute/pkg/scorecast-streams.tar.gz"
}

resource "fastly_service_compute" "streams" {
  name          = "${var.service_name}-streams"
  force_destroy = false

  domain {
    name = var.stream_domain
  }

  backend {
    name              = "origin"
    address           = var.origin_host
    port              = var.origin_port
    use_ssl           = true
    ssl_cert_hostname = var.origin_host
    override_host     = var.origin_host
    # Fanout asks the origin once per connect; the origin answers with hold instructions.
    first_byte_timeout    = 5000
    between_bytes_timeout = 10000
  }

  package {
    filename         = data.fastly_package_hash.streams.filename
    source_code_hash = data.fastly_package_hash.streams.hash
  }

  product_enablement {
    fanout = true
  }
}
