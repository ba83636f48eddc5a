output "api_endpoint" {
  description = "DNS name of the internal NLB (TLS on 443)."
  value       = aws_lb.api.dns_name
}

output "sealing_key_arn" {
  description = "The KMS key that releases data keys only to the attested enclave image."
  value       = aws_kms_key.sealing.arn
}

output "eif_build_args" {
  description = "Arguments of eif/build.sh that pin this deployment's sealing key, region and name into the enclave image."
  value       = "--kms-key-arn ${aws_kms_key.sealing.arn} --region ${data.aws_region.current.name} --deployment ${var.name}"
}

output "instance_role_arn" {
  description = "Role of the Signet hosts."
  value       = aws_iam_role.instance.arn
}

output "log_group" {
  description = "CloudWatch log group of hosts and enclaves."
  value       = aws_cloudwatch_log_group.signet.name
}

output "attestation_policy" {
  description = "The ATTESTATION_POLICY JSON the hosts use (same PCRs as the KMS key policy)."
  value       = local.attestation_policy
}

output "database" {
  description = "Where the hosts keep their data: postgres (RDS, TLS verify-full) or sqlite (on the persistent data volume, one host)."
  value       = var.enable_rds ? "postgres" : "sqlite"
}

output "database_endpoint" {
  description = "RDS endpoint (address:port) with enable_rds; null with SQLite."
  value       = one(aws_db_instance.signet[*].endpoint)
}

output "database_secret_arn" {
  description = "ARN (not the value) of the RDS-managed Secrets Manager secret holding the database credentials; null with SQLite."
  value       = var.enable_rds ? local.database_secret_arn : null
}

output "data_volume_id" {
  description = "The persistent EBS volume holding the SQLite database (snapshotted daily); null with RDS."
  value       = one(aws_ebs_volume.data[*].id)
}
