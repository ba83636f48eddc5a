# The shared secrets, generated here and read by the instances at boot.

locals {
  secret_names = ["INTERNAL_API_KEY", "TICKET_SIGNING_SECRET", "SESSION_SIGNING_SECRET"]
}

resource "random_password" "signet" {
  for_each = toset(local.secret_names)
  length   = 64
  special  = false
}

resource "aws_secretsmanager_secret" "signet" {
  #checkov:skip=CKV2_AWS_57:Rotating these needs a coordinated signer+host restart (docs/RUNBOOK.md, Rotation); Secrets Manager rotation lambdas cannot do that.
  for_each                = toset(local.secret_names)
  name                    = "${var.name}/${each.key}"
  kms_key_id              = aws_kms_key.ops.arn
  recovery_window_in_days = 30
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "signet" {
  for_each      = toset(local.secret_names)
  secret_id     = aws_secretsmanager_secret.signet[each.key].id
  secret_string = random_password.signet[each.key].result
}
