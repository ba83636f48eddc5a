# What the hosts are told, derived from the variables only: this file refers
# to nothing but var.* and its own locals, so that terraform/tests/
# test_settings.py can evaluate it with the real `terraform` binary (no
# provider, no AWS) next to the module's own checks.

locals {
  # The load balancer's health check (nlb.tf): a host that answers /ready 503
  # stops getting new connections after this many failed checks.
  lb_health_check_interval_seconds = 10
  lb_unhealthy_threshold           = 2

  # SIGNET_DRAIN_SECONDS must cover the deregistration delay (the instance is
  # stopped after it) and the time the health check takes to notice a host
  # that restarts in place (a new database password, a new configuration).
  drain_seconds_minimum = max(var.lb_deregistration_delay_seconds, local.lb_health_check_interval_seconds * local.lb_unhealthy_threshold)
  drain_seconds         = var.drain_seconds == null ? local.drain_seconds_minimum + 5 : var.drain_seconds
  # systemd must not kill the host while it drains: the drain, then up to 10 s
  # for open requests, then a margin.
  host_stop_timeout_seconds = local.drain_seconds + 30

  # ATTESTATION_POLICY: the signer's attestation must match one whole set.
  attestation_policy = jsonencode({
    root            = "aws"
    pcr_sets        = [for s in var.enclave_pcr_sets : merge({ "0" = s.pcr0, "1" = s.pcr1, "2" = s.pcr2 }, s.pcr8 == null ? {} : { "8" = s.pcr8 })]
    max_age_seconds = 300
  })

  # The key policy's conditions, one map per accepted image (kms.tf makes one
  # Allow statement of each: KMS ANDs the keys of a statement and ORs the
  # values of one key, so one statement with lists of values would admit a
  # PCR0 of one image with the PCR1 of another).
  attestation_pcr_conditions = [for s in var.enclave_pcr_sets : merge(
    {
      "kms:RecipientAttestation:ImageSha384" = s.pcr0
      "kms:RecipientAttestation:PCR1"        = s.pcr1
      "kms:RecipientAttestation:PCR2"        = s.pcr2
    },
    s.pcr8 == null ? {} : { "kms:RecipientAttestation:PCR8" = s.pcr8 },
  )]

  # The hosts' production settings, appended to /etc/signet.env (no secret
  # here: the audit export token is read from Secrets Manager on the
  # instance). docs/configuration.md describes each variable.
  host_settings = merge(
    {
      METRICS_REQUIRE_API_KEY         = "true"
      RATE_LIMIT_WINDOW_MS            = tostring(var.rate_limit_window_ms)
      RATE_LIMIT_PER_USER             = tostring(var.rate_limit_per_client)
      RATE_LIMIT_PER_IDENTITY_SIGN    = tostring(var.rate_limit_per_wallet_sign)
      RATE_LIMIT_CHALLENGES_PER_IP    = tostring(var.rate_limit_challenges_per_ip)
      RATE_LIMIT_AUTH_FAILURES_PER_IP = tostring(var.rate_limit_auth_failures_per_ip)
      SIGNET_DRAIN_SECONDS            = tostring(local.drain_seconds)
      ADMIN_ALLOWED_CIDRS             = join(",", var.admin_allowed_cidrs)
      SIGNET_OPERATOR_QUORUM          = tostring(var.operator_quorum)
      SIGNET_BACKUP_RETENTION_DAYS    = tostring(var.backup_retention_days)
    },
    var.audit_export_url == "" ? {} : { AUDIT_EXPORT_URL = var.audit_export_url },
    var.public_url == "" ? {} : { SIGNET_PUBLIC_URL = var.public_url },
  )
  host_settings_env  = join("\n", [for k in sort(keys(local.host_settings)) : "${k}=${local.host_settings[k]}"])
  audit_export_token = var.audit_export_url != "" && var.audit_export_token
}

# Plan-time checks of settings that involve several variables (a variable's
# own validation may only look at itself before Terraform 1.9). A
# terraform_data resource holds nothing and calls no provider but Terraform's
# own.
resource "terraform_data" "settings" {
  lifecycle {
    precondition {
      condition     = local.drain_seconds >= local.drain_seconds_minimum && local.drain_seconds <= 300
      error_message = "drain_seconds must be at least the load balancer's deregistration delay and the health check's detection time (lb_deregistration_delay_seconds, or interval x unhealthy threshold = 20 s), and at most 300: the host would stop serving while the load balancer still sends it requests."
    }
  }
}
