output "api_endpoint" {
  description = "Internal NLB DNS name."
  value       = module.signet.api_endpoint
}

output "attestation_policy" {
  description = "ATTESTATION_POLICY used by the hosts; also valid for `signet attest verify --policy`."
  value       = module.signet.attestation_policy
}
