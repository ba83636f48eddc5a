resource "aws_cloudwatch_log_group" "signet" {
  name              = "/signet/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.ops.arn
  tags              = var.tags
}
