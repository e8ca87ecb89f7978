output "service_id" {
  description = "Give it to the purger and the publisher as SCORECAST_FASTLY_SERVICE_ID."
  value       = fastly_service_vcl.scorecast.id
}

output "active_version" {
  description = "The service version now serving traffic (roll back by activating an older one)."
  value       = fastly_service_vcl.scorecast.active_version
}
