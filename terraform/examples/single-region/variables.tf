variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets in two or more AZs."
  type        = list(string)
}

variable "allowed_client_cidrs" {
  description = "Client networks allowed to call the API."
  type        = list(string)
}

variable "ami_id" {
  description = "Host AMI (nitro-cli and signet-host installed)."
  type        = string
}

variable "eif_s3_uri" {
  description = "s3://… of the enclave image."
  type        = string
}

variable "eif_bucket_arn" {
  description = "ARN of the bucket holding the image."
  type        = string
}

variable "tls_certificate_arn" {
  description = "ACM certificate for the API."
  type        = string
}

variable "kms_admin_role_arns" {
  description = "Roles administering (never using) the sealing key."
  type        = list(string)
}

variable "enclave_pcr_sets" {
  description = "The accepted enclave images' PCRs, from the image build's pcrs.auto.tfvars.json (terraform/pcr_sets.py merges and drops sets)."
  type = list(object({
    pcr0 = string
    pcr1 = string
    pcr2 = string
    pcr8 = optional(string)
  }))
}

variable "admin_allowed_cidrs" {
  description = "The operators' networks: the only ones the admin API answers."
  type        = list(string)
}

variable "audit_export_url" {
  description = "https URL of the SIEM the audit log is pushed to; empty: none."
  type        = string
  default     = ""
}

variable "retired_sealing_key_versions" {
  description = "Sealing-key versions that nobody may unseal any more (after a wallet is destroyed and the sealing key rotated)."
  type        = list(number)
  default     = []
}

variable "enable_rds" {
  description = "PostgreSQL (RDS) shared by the hosts; false: SQLite on a persistent volume, one host."
  type        = bool
  default     = false
}

variable "desired_capacity" {
  description = "Number of hosts (more than one needs enable_rds = true)."
  type        = number
  default     = 1
}

variable "rds_ca_bundle_s3_uri" {
  description = "s3://… of the RDS CA bundle when the hosts have no Internet egress (null: downloaded from the RDS truststore)."
  type        = string
  default     = null
}
