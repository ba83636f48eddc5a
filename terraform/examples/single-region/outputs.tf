output "api_endpoint" {
  description = "Internal NLB DNS name."
  value       = module.signet.api_endpoint
}

output "attestation_policy" {
  description = "ATTESTATION_POLICY used by the hosts; also valid for `signet attest verify --policy`."
  value       = module.signet.attestation_policy
}

output "database" {
  description = "postgres (RDS) or sqlite (persistent data volume)."
  value       = module.signet.database
}

output "data_volume_id" {
  description = "The EBS volume holding the SQLite database (null with RDS)."
  value       = module.signet.data_volume_id
}

output "sealing_key_arn" {
  description = "The KMS key the enclave image pins (eif/build.sh --kms-key-arn)."
  value       = module.signet.sealing_key_arn
}

output "eif_build_args" {
  description = "eif/build.sh $(terraform output -raw eif_build_args) builds the image for this deployment."
  value       = module.signet.eif_build_args
}
