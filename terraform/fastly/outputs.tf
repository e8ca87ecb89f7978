output "service_id" {
  description = "The delivery (VCL) service: give it to the purger as SCORECAST_FASTLY_SERVICE_ID."
  value       = fastly_service_vcl.scorecast.id
}

output "stream_service_id" {
  description = "The Compute service with Fanout: give it to the publisher (SCORECAST_STREAMS_TIER=fanout) as SCORECAST_FASTLY_SERVICE_ID."
  value       = fastly_service_compute.streams.id
}

output "active_version" {
  description = "The delivery service version now serving traffic (roll back by activating an older one)."
  value       = fastly_service_vcl.scorecast.active_version
}
