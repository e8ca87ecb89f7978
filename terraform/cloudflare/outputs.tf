output "ruleset_id" {
  description = "The cache ruleset Scorecast manages."
  value       = cloudflare_ruleset.scorecast_cache.id
}
