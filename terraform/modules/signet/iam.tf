# Least privilege for the instances: SSM (no SSH), read the EIF, read the
# three secrets (and the RDS-managed database secret), write logs, attach the
# SQLite data volume, and use the sealing key (the key policy adds the
# attestation condition on top).

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name               = "${var.name}-instance"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "instance" {
  statement {
    sid       = "ReadEnclaveImage"
    actions   = ["s3:GetObject"]
    resources = ["${var.eif_bucket_arn}/*"]
  }
  statement {
    # The three shared secrets and, with enable_rds, the RDS-managed master
    # user secret (read at each start of the host, never by Terraform).
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat([for s in aws_secretsmanager_secret.signet : s.arn], aws_db_instance.signet[*].master_user_secret[0].secret_arn)
  }
  dynamic "statement" {
    for_each = var.rds_ca_bundle_s3_uri == null ? [] : [var.rds_ca_bundle_s3_uri]
    content {
      sid       = "ReadRdsCaBundle"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${trimprefix(statement.value, "s3://")}"]
    }
  }
  dynamic "statement" {
    for_each = aws_ebs_volume.data
    content {
      sid       = "AttachTheDataVolume"
      actions   = ["ec2:AttachVolume"]
      resources = [statement.value.arn]
    }
  }
  dynamic "statement" {
    # ...to an instance of this group only (the volume is attached by the
    # instance that boots, never by Terraform).
    for_each = aws_ebs_volume.data
    content {
      sid       = "AttachToInstancesOfThisGroup"
      actions   = ["ec2:AttachVolume"]
      resources = ["arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:instance/*"]
      condition {
        test     = "StringEquals"
        variable = "ec2:ResourceTag/aws:autoscaling:groupName"
        values   = ["${var.name}-hosts"]
      }
    }
  }
  dynamic "statement" {
    for_each = aws_ebs_volume.data
    content {
      sid       = "SeeTheDataVolume"
      actions   = ["ec2:DescribeVolumes"]
      resources = ["*"]
    }
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.signet.arn}:*"]
  }
  statement {
    sid       = "UseSealingKeyFromTheEnclave"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.sealing.arn]
  }
}

resource "aws_iam_role_policy" "instance" {
  name   = "${var.name}-instance"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.instance.json
}

resource "aws_iam_instance_profile" "instance" {
  name = "${var.name}-instance"
  role = aws_iam_role.instance.name
  tags = var.tags
}
