output "api_endpoint" {
  description = "DNS name of the internal NLB (TLS on 443)."
  value       = aws_lb.api.dns_name
}

output "sealing_key_arn" {
  description = "The KMS key that releases data keys only to the attested enclave image."
  value       = aws_kms_key.sealing.arn
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
