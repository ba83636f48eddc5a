# A single-region Signet deployment. The enclave image pins the sealing key's
# ARN, so the first deployment takes two applies: ../../README.md, "First
# deployment".

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 7.0.0"
    }
  }
}

provider "aws" {
  region = var.region
}

module "signet" {
  source = "../../modules/signet"

  name                 = "signet"
  vpc_id               = var.vpc_id
  private_subnet_ids   = var.private_subnet_ids
  allowed_client_cidrs = var.allowed_client_cidrs
  ami_id               = var.ami_id
  eif_s3_uri           = var.eif_s3_uri
  eif_bucket_arn       = var.eif_bucket_arn
  tls_certificate_arn  = var.tls_certificate_arn
  kms_admin_role_arns  = var.kms_admin_role_arns

  # Database: SQLite on a persistent EBS volume with one host (default), or
  # PostgreSQL (RDS, TLS verify-full) for several: docs/RUNBOOK.md, section 6.
  enable_rds           = var.enable_rds
  desired_capacity     = var.desired_capacity
  rds_ca_bundle_s3_uri = var.rds_ca_bundle_s3_uri

  # From the image build's pcrs.auto.tfvars.json (never typed by hand); two
  # sets while upgrading or rolling back: docs/RUNBOOK.md, section 7.
  enclave_pcr_sets = var.enclave_pcr_sets

  # Production settings (each has a default; ../../README.md, "Production
  # settings").
  admin_allowed_cidrs = var.admin_allowed_cidrs
  audit_export_url    = var.audit_export_url

  # Sealing-key versions nobody may unseal any more: ../../README.md,
  # "Retiring sealing-key versions".
  retired_sealing_key_versions = var.retired_sealing_key_versions

  tags = { project = "signet", environment = "production" }
}
