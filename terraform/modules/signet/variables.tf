variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "signet"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name: 2-31 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC to deploy into."
  type        = string
  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets (no public IPs) for the instances and the load balancer, in at least two AZs."
  type        = list(string)
  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids: at least two subnet-… ids."
  }
}

variable "allowed_client_cidrs" {
  description = "CIDR blocks allowed to reach the API (TLS on 443) through the internal NLB."
  type        = list(string)
  validation {
    condition     = length(var.allowed_client_cidrs) > 0 && alltrue([for c in var.allowed_client_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "allowed_client_cidrs: valid CIDRs, and not 0.0.0.0/0."
  }
}

variable "instance_type" {
  description = "Nitro Enclaves-capable instance type (at least 4 vCPUs: 2 go to the enclave)."
  type        = string
  default     = "c6i.xlarge"
  validation {
    condition     = can(regex("^(c5|c5a|c5n|c6a|c6i|c6in|c7i|m5|m5a|m5n|m6a|m6i|m7i|r5|r5a|r6a|r6i|r7i)\\.(x|2x|4x|8x|12x|16x)large$", var.instance_type))
    error_message = "instance_type must be a Nitro Enclaves-capable type of at least xlarge (e.g. c6i.xlarge)."
  }
}

variable "ami_id" {
  description = "AMI with nitro-cli, the allocator and signet-host installed (Amazon Linux 2023 based)."
  type        = string
  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123abcd."
  }
}

variable "eif_s3_uri" {
  description = "s3://bucket/key of the enclave image built by eif/build.sh."
  type        = string
  validation {
    condition     = can(regex("^s3://[a-z0-9.-]{3,63}/.+\\.eif$", var.eif_s3_uri))
    error_message = "eif_s3_uri must be s3://bucket/path/name.eif."
  }
}

variable "eif_bucket_arn" {
  description = "ARN of the bucket holding the EIF (read-only access is granted to the instances)."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]{3,63}$", var.eif_bucket_arn))
    error_message = "eif_bucket_arn must be an S3 bucket ARN."
  }
}

variable "enclave_pcr0" {
  description = "PCR0 of the enclave image (signet-eif tfvars). The KMS key only decrypts for this image."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{96}$", var.enclave_pcr0)) && !can(regex("^0+$", var.enclave_pcr0))
    error_message = "enclave_pcr0 must be 96 lowercase hex characters (SHA-384), not all zeros (what an enclave in debug mode reports)."
  }
}

variable "enclave_pcr1" {
  description = "PCR1 of the enclave image (kernel and boot ramdisk)."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{96}$", var.enclave_pcr1)) && !can(regex("^0+$", var.enclave_pcr1))
    error_message = "enclave_pcr1 must be 96 lowercase hex characters (SHA-384), not all zeros (what an enclave in debug mode reports)."
  }
}

variable "enclave_pcr2" {
  description = "PCR2 of the enclave image (application)."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{96}$", var.enclave_pcr2)) && !can(regex("^0+$", var.enclave_pcr2))
    error_message = "enclave_pcr2 must be 96 lowercase hex characters (SHA-384), not all zeros (what an enclave in debug mode reports)."
  }
}

variable "enclave_pcr8" {
  description = "PCR8 (signing certificate) when the image is signed; null otherwise."
  type        = string
  default     = null
  validation {
    condition     = var.enclave_pcr8 == null || (can(regex("^[0-9a-f]{96}$", var.enclave_pcr8)) && !can(regex("^0+$", var.enclave_pcr8)))
    error_message = "enclave_pcr8 must be null or 96 lowercase hex characters, not all zeros."
  }
}

variable "tls_certificate_arn" {
  description = "ACM certificate for the NLB's TLS listener."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.tls_certificate_arn))
    error_message = "tls_certificate_arn must be an ACM certificate ARN."
  }
}

variable "kms_admin_role_arns" {
  description = "Roles that administer (but can never use for decryption) the sealing KMS key."
  type        = list(string)
  validation {
    condition     = length(var.kms_admin_role_arns) > 0 && alltrue([for a in var.kms_admin_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "kms_admin_role_arns: at least one IAM role ARN (no wildcards)."
  }
}

variable "retired_sealing_key_versions" {
  description = "Sealing-key versions that nobody may unseal any more, not even the attested enclave: after a wallet is destroyed, rotate the sealing key (every live blob is re-sealed under version N+1) and list the old versions here. See terraform/README.md, \"Retiring sealing-key versions\"."
  type        = list(number)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for v in var.retired_sealing_key_versions : v >= 1 && floor(v) == v])
    error_message = "retired_sealing_key_versions: positive integers (sealing-key versions start at 1)."
  }
}

variable "telegram_bot_username" {
  description = "The Telegram bot that signs users in (its username, without @); empty = no user login. The module creates the secret <name>/TELEGRAM_BOT_TOKEN without a value: put the token from @BotFather into it (docs/RUNBOOK.md, section 5a) before the instances start. The token is never in Terraform's state."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.telegram_bot_username == "" || can(regex("^[A-Za-z][A-Za-z0-9_]{3,31}$", var.telegram_bot_username))
    error_message = "telegram_bot_username: the bot's username without @ (5 to 32 letters, digits and _), or empty."
  }
}

variable "telegram_webhook_url" {
  description = "Webhook mode: the public https URL Telegram posts updates to (https://<host>/telegram-webhook, routed to the instances). Empty = polling (one replica at a time long-polls; no public URL needed). The webhook secret is generated into <name>/TELEGRAM_WEBHOOK_SECRET."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.telegram_webhook_url == "" || can(regex("^https://[^/\\s]+(/[^\\s]*)?$", var.telegram_webhook_url))
    error_message = "telegram_webhook_url: an https:// URL (Telegram calls only https), or empty for polling."
  }
}

variable "desired_capacity" {
  description = "Instances in the Auto Scaling group. SQLite (the default) allows exactly one; several need PostgreSQL (enable_rds = true)."
  type        = number
  default     = 1
  validation {
    condition     = var.desired_capacity >= 1 && var.desired_capacity <= 10
    error_message = "desired_capacity must be 1 to 10."
  }
}

variable "enclave_memory_mib" {
  description = "Memory given to the enclave."
  type        = number
  default     = 2048
  validation {
    condition     = var.enclave_memory_mib >= 512 && var.enclave_memory_mib <= 65536
    error_message = "enclave_memory_mib must be 512 to 65536."
  }
}

variable "enclave_cpu_count" {
  description = "vCPUs given to the enclave (even, at least 2)."
  type        = number
  default     = 2
  validation {
    condition     = var.enclave_cpu_count >= 2 && var.enclave_cpu_count % 2 == 0
    error_message = "enclave_cpu_count must be an even number of at least 2."
  }
}

variable "enable_rds" {
  description = "Create an encrypted PostgreSQL (RDS) database shared by the replicas (TLS verify-full, RDS-managed password). false: SQLite on a persistent EBS volume, one instance."
  type        = bool
  default     = false
}

variable "data_volume_size_gib" {
  description = "Size of the persistent EBS volume that holds the SQLite database (enable_rds = false)."
  type        = number
  default     = 20
  validation {
    condition     = var.data_volume_size_gib >= 1 && var.data_volume_size_gib <= 16384
    error_message = "data_volume_size_gib must be 1 to 16384."
  }
}

variable "rds_ca_bundle_s3_uri" {
  description = "s3://bucket/key of the RDS CA bundle (PEM) when the instances cannot reach https://truststore.pki.rds.amazonaws.com (no Internet egress); null: the instances download the region's bundle from there."
  type        = string
  default     = null
  validation {
    condition     = var.rds_ca_bundle_s3_uri == null || can(regex("^s3://[a-z0-9.-]{3,63}/.+\\.pem$", var.rds_ca_bundle_s3_uri))
    error_message = "rds_ca_bundle_s3_uri must be null or s3://bucket/path/name.pem."
  }
}

variable "log_retention_days" {
  description = "CloudWatch log retention."
  type        = number
  default     = 365
  validation {
    condition     = contains([90, 180, 365, 400, 545, 731, 1827, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 90, 180, 365, 400, 545, 731, 1827, 3653."
  }
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
