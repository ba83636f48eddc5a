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

variable "enclave_pcr_sets" {
  description = "The enclave images the sealing key releases data keys to and the hosts accept (ATTESTATION_POLICY): one set per image, from the image build's pcrs.auto.tfvars.json. An attested enclave must match ONE whole set (PCR0, PCR1, PCR2, and PCR8 when given). List the current and the next (or previous) image during an upgrade or a rollback, never more than 4 (docs/RUNBOOK.md, section 7)."
  type = list(object({
    pcr0 = string
    pcr1 = string
    pcr2 = string
    pcr8 = optional(string)
  }))
  nullable = false
  validation {
    condition     = length(var.enclave_pcr_sets) >= 1 && length(var.enclave_pcr_sets) <= 4
    error_message = "enclave_pcr_sets: 1 to 4 PCR sets (the running image, and the next or previous one while upgrading or rolling back)."
  }
  validation {
    condition     = alltrue([for s in var.enclave_pcr_sets : alltrue([for p in [s.pcr0, s.pcr1, s.pcr2] : can(regex("^[0-9a-f]{96}$", p)) && !can(regex("^0+$", p))])])
    error_message = "enclave_pcr_sets: pcr0, pcr1 and pcr2 of every set must be 96 lowercase hex characters (SHA-384), not all zeros (what an enclave in debug mode reports)."
  }
  validation {
    condition     = alltrue([for s in var.enclave_pcr_sets : s.pcr8 == null || (can(regex("^[0-9a-f]{96}$", s.pcr8)) && !can(regex("^0+$", s.pcr8)))])
    error_message = "enclave_pcr_sets: pcr8 must be null (unsigned image) or 96 lowercase hex characters, not all zeros."
  }
  validation {
    condition     = length(distinct([for s in var.enclave_pcr_sets : s.pcr0])) == length(var.enclave_pcr_sets)
    error_message = "enclave_pcr_sets: two sets with the same pcr0 (one image listed twice, or two sets that differ only in PCR1/2/8: list each image once)."
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

# --- Protection -------------------------------------------------------------

variable "kms_deletion_window_days" {
  description = "Days between a ScheduleKeyDeletion of the sealing or the operations key and the deletion itself (CancelKeyDeletion works until then). Deleting the sealing key makes every wallet and every backup unrecoverable for good, so the module allows 14 to 30 (AWS allows 7 to 30); default 30. How to really delete: terraform/README.md, \"Deleting a deployment\"."
  type        = number
  default     = 30
  nullable    = false
  validation {
    condition     = var.kms_deletion_window_days >= 14 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days: a whole number of days from 14 to 30 (a shorter window can pass unnoticed over a holiday; AWS allows at most 30)."
  }
}

variable "backup_retention_days" {
  description = "How long backups are kept: RDS automated backups (enable_rds) or the daily snapshots of the SQLite volume, and SIGNET_BACKUP_RETENTION_DAYS, the host's horizon for backups that may still need a sealing-key version (a version is not retired while a backup recorded by signet-host admin backup that may need it is within this many days)."
  type        = number
  default     = 14
  nullable    = false
  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days: a whole number of days from 1 to 35 (RDS keeps automated backups at most 35 days)."
  }
}

# --- Production settings of the hosts ---------------------------------------

variable "rate_limit_window_ms" {
  description = "RATE_LIMIT_WINDOW_MS: the rate-limit window (fixed windows on wall-clock boundaries, shared by the replicas through the database)."
  type        = number
  default     = 60000
  nullable    = false
  validation {
    condition     = var.rate_limit_window_ms >= 1000 && var.rate_limit_window_ms <= 3600000 && floor(var.rate_limit_window_ms) == var.rate_limit_window_ms
    error_message = "rate_limit_window_ms: a whole number of milliseconds from 1000 to 3600000."
  }
}

variable "rate_limit_per_client" {
  description = "RATE_LIMIT_PER_USER: requests an API client (or a signed-in user) may make per window, on every authenticated route. The module keeps rate limits on (at least 1)."
  type        = number
  default     = 1200
  nullable    = false
  validation {
    condition     = var.rate_limit_per_client >= 1 && floor(var.rate_limit_per_client) == var.rate_limit_per_client
    error_message = "rate_limit_per_client: a whole number of at least 1 (the module does not turn rate limits off)."
  }
}

variable "rate_limit_per_wallet_sign" {
  description = "RATE_LIMIT_PER_IDENTITY_SIGN: signatures one wallet may make per window, whoever asks. It bounds what a leaked token or a compromised client can sign. The module keeps it on (at least 1)."
  type        = number
  default     = 120
  nullable    = false
  validation {
    condition     = var.rate_limit_per_wallet_sign >= 1 && floor(var.rate_limit_per_wallet_sign) == var.rate_limit_per_wallet_sign
    error_message = "rate_limit_per_wallet_sign: a whole number of at least 1 (the module does not turn rate limits off)."
  }
}

variable "rate_limit_challenges_per_ip" {
  description = "RATE_LIMIT_CHALLENGES_PER_IP: login challenges one client address may create per minute, per replica. Raise it when many users share one address (NAT)."
  type        = number
  default     = 30
  nullable    = false
  validation {
    condition     = var.rate_limit_challenges_per_ip >= 1 && floor(var.rate_limit_challenges_per_ip) == var.rate_limit_challenges_per_ip
    error_message = "rate_limit_challenges_per_ip: a whole number of at least 1."
  }
}

variable "rate_limit_auth_failures_per_ip" {
  description = "RATE_LIMIT_AUTH_FAILURES_PER_IP: failed authentications one client address may cause per minute, per replica, before it is refused without a lookup."
  type        = number
  default     = 60
  nullable    = false
  validation {
    condition     = var.rate_limit_auth_failures_per_ip >= 1 && floor(var.rate_limit_auth_failures_per_ip) == var.rate_limit_auth_failures_per_ip
    error_message = "rate_limit_auth_failures_per_ip: a whole number of at least 1."
  }
}

variable "admin_allowed_cidrs" {
  description = "ADMIN_ALLOWED_CIDRS: the only client networks from which /v1/admin/* and anything that needs the operator scope are served (403 network_denied, audited, from elsewhere). Put the operators' network here, not the clients'."
  type        = list(string)
  nullable    = false
  validation {
    condition     = length(var.admin_allowed_cidrs) > 0 && alltrue([for c in var.admin_allowed_cidrs : can(cidrhost(c, 0)) && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "admin_allowed_cidrs: at least one valid CIDR (IPv4 or IPv6), and not 0.0.0.0/0 or ::/0."
  }
}

variable "operator_quorum" {
  description = "SIGNET_OPERATOR_QUORUM: 2 (default) makes sealing rotation, invalidate-all, creating or revoking operator/admin clients and lifting a freeze wait for a second, different operator client. It cannot lock a team out: the offline `signet-host admin create-client` (database access on an instance) is not subject to it, and is audited. 1 only for a team of one person (terraform/README.md, \"Operator quorum\")."
  type        = number
  default     = 2
  nullable    = false
  validation {
    condition     = contains([1, 2], var.operator_quorum)
    error_message = "operator_quorum: 1 or 2."
  }
}

variable "public_url" {
  description = "SIGNET_PUBLIC_URL: the origin people reach the hosts at (https://signet.example.com, the name your DNS gives the load balancer), so the links the hosts hand out (an intent's approval_url) are absolute; empty = relative links."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.public_url == "" || can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.public_url))
    error_message = "public_url: http(s)://host[:port] without a path, or empty."
  }
}

variable "audit_export_url" {
  description = "AUDIT_EXPORT_URL: the https URL the hosts push the audit log to (a SIEM), in batches of JSON lines; empty = no push (export with `signet-host audit export` instead)."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.audit_export_url == "" || can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!&()*+,;=:@%/?-]*)?$", var.audit_export_url))
    error_message = "audit_export_url: an https:// URL without spaces or quotes, or empty."
  }
}

variable "audit_export_token" {
  description = "With audit_export_url: the hosts send `Authorization: Bearer <token>`, the token read at boot from the secret <name>/AUDIT_EXPORT_TOKEN, which the module creates without a value (put the token in it before the instances start; it never enters Terraform's state). false: the SIEM takes no token."
  type        = bool
  default     = true
  nullable    = false
}

variable "lb_deregistration_delay_seconds" {
  description = "How long the load balancer lets a deregistered host finish its connections before the instance is stopped."
  type        = number
  default     = 30
  nullable    = false
  validation {
    condition     = var.lb_deregistration_delay_seconds >= 0 && var.lb_deregistration_delay_seconds <= 295 && floor(var.lb_deregistration_delay_seconds) == var.lb_deregistration_delay_seconds
    error_message = "lb_deregistration_delay_seconds: a whole number from 0 to 295 (the host drains for at most 300 s)."
  }
}

variable "drain_seconds" {
  description = "SIGNET_DRAIN_SECONDS: after SIGTERM the host answers /ready 503 but keeps serving this long. null (default): the longer of the deregistration delay and the time the load balancer's health check takes to mark the host down, plus 5 s. A value below that is refused at plan time."
  type        = number
  default     = null
  validation {
    condition     = var.drain_seconds == null || (try(var.drain_seconds >= 0 && var.drain_seconds <= 300 && floor(var.drain_seconds) == var.drain_seconds, false))
    error_message = "drain_seconds: null, or a whole number from 0 to 300."
  }
}
