# The shared secrets, read by the instances at boot. The generated ones are
# made here; the Telegram bot token comes from @BotFather and the audit export
# token from the SIEM, so their secrets are made without a value and the
# operator puts the token in (it never enters Terraform's state).

locals {
  telegram_login   = var.telegram_bot_username != ""
  telegram_webhook = local.telegram_login && var.telegram_webhook_url != ""
  generated_secrets = concat(
    ["INTERNAL_API_KEY", "TICKET_SIGNING_SECRET", "SESSION_SIGNING_SECRET"],
    local.telegram_webhook ? ["TELEGRAM_WEBHOOK_SECRET"] : [],
  )
  operator_secrets = concat(
    local.telegram_login ? ["TELEGRAM_BOT_TOKEN"] : [],
    local.audit_export_token ? ["AUDIT_EXPORT_TOKEN"] : [],
  )
  secret_names = concat(local.generated_secrets, local.operator_secrets)
}

resource "random_password" "signet" {
  for_each = toset(local.generated_secrets)
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
  for_each      = toset(local.generated_secrets)
  secret_id     = aws_secretsmanager_secret.signet[each.key].id
  secret_string = random_password.signet[each.key].result
}
