# The sealing key: releases data keys only to an enclave running the measured
# image, for this deployment's sealing key. Every statement that allows a
# decrypt-class action carries the attestation condition;
# tests/check_kms_policy.py fails the build otherwise, and
# tests/render_kms_policy.py renders the policy JSON this document produces.
#
# The signer calls GenerateDataKey (first boot) and Decrypt (later boots) with
# the encryption context
#   {"signet-purpose": "sealing-key", "signet-deployment": var.name,
#    "signet-sealing-key-version": "<N>"}
# which KMS binds to every CiphertextBlob: a blob decrypts only with the
# context it was made with.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  decrypt_class_actions = [
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
  ]
  # The encryption context holds strings: "1", not 1.
  retired_sealing_key_versions = [for v in var.retired_sealing_key_versions : tostring(v)]
}

data "aws_iam_policy_document" "sealing_key" {
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" means this key only; writes are limited to named roles.
  #checkov:skip=CKV_AWS_356:A key policy's resource "*" means this key only (AWS requires "*" in key policies).
  #checkov:skip=CKV_AWS_109:Key administration (PutKeyPolicy) is limited to the named admin roles, who are denied decryption.
  statement {
    sid    = "KeyAdministrationWithoutUse"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = var.kms_admin_role_arns
    }
    # Explicit list: no kms:Create* (it would include CreateGrant) and no use.
    actions = [
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:UpdateAlias",
      "kms:DescribeKey",
      "kms:EnableKey",
      "kms:DisableKey",
      "kms:EnableKeyRotation",
      "kms:DisableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:RevokeGrant",
      "kms:RetireGrant",
      "kms:ScheduleKeyDeletion",
      "kms:CancelKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]
  }

  # One statement per accepted image (var.enclave_pcr_sets): an enclave must
  # match every PCR of one set. Statements are ORed; within one, KMS ANDs the
  # condition keys and ORs the values of a key, so a single statement with a
  # list of values per PCR would admit a mix of two images' PCRs.
  dynamic "statement" {
    for_each = local.attestation_pcr_conditions
    content {
      sid    = "EnclaveDecryptOnlyWithAttestation${statement.key}"
      effect = "Allow"
      principals {
        type        = "AWS"
        identifiers = [aws_iam_role.instance.arn]
      }
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = ["*"]
      dynamic "condition" {
        for_each = statement.value
        content {
          test     = "StringEqualsIgnoreCase"
          variable = condition.key
          values   = [condition.value]
        }
      }
      # ...and only this deployment's sealing key, whatever else the role may
      # ask KMS for.
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:signet-purpose"
        values   = ["sealing-key"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:signet-deployment"
        values   = [var.name]
      }
    }
  }

  statement {
    sid    = "DenyUseWithoutAttestation"
    effect = "Deny"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.instance.arn]
    }
    actions   = local.decrypt_class_actions
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "kms:RecipientAttestation:ImageSha384"
      values   = ["true"]
    }
  }

  statement {
    sid    = "DenyAdministratorsDecryption"
    effect = "Deny"
    principals {
      type        = "AWS"
      identifiers = var.kms_admin_role_arns
    }
    actions   = local.decrypt_class_actions
    resources = ["*"]
  }

  # Retired sealing-key versions: after a wallet is destroyed, the operator
  # rotates the sealing key (a new version N+1, every live blob re-sealed
  # under it) and then lists the old versions in
  # var.retired_sealing_key_versions. A host that kept a blob sealed under an
  # old version (or the CiphertextBlob of an old sealing key) can then have it
  # unsealed by nobody, not even by the attested enclave: the version is in
  # the encryption context bound to the CiphertextBlob, so the Deny below
  # matches every request that could decrypt it. Key administrators can still
  # change this policy (PutKeyPolicy, logged by CloudTrail) but are denied
  # decryption themselves (DenyAdministratorsDecryption).
  # terraform/README.md, "Retiring sealing-key versions".
  dynamic "statement" {
    for_each = length(local.retired_sealing_key_versions) == 0 ? [] : [local.retired_sealing_key_versions]
    content {
      sid    = "DenyRetiredSealingKeyVersions"
      effect = "Deny"
      principals {
        type        = "AWS"
        identifiers = ["*"]
      }
      actions   = local.decrypt_class_actions
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:signet-sealing-key-version"
        values   = statement.value
      }
    }
  }
}

resource "aws_kms_key" "sealing" {
  description             = "${var.name}: Signet sealing key, released only to the attested enclave image"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.sealing_key.json
  tags                    = var.tags

  lifecycle {
    # Every wallet's sealed key, in the database and in every backup, is
    # useless without it: no plan may destroy it (terraform/README.md,
    # "Deleting a deployment").
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "sealing" {
  name          = "alias/${var.name}-sealing"
  target_key_id = aws_kms_key.sealing.key_id
}

# A second key for operational data (secrets, logs, database, the SQLite data
# volume, root volumes): usable by the instances and AWS services, never by the
# enclave's attestation path.
locals {
  ops_key_services = [
    "ec2.${data.aws_region.current.name}.amazonaws.com",
    "rds.${data.aws_region.current.name}.amazonaws.com",
    "secretsmanager.${data.aws_region.current.name}.amazonaws.com",
  ]
}

data "aws_iam_policy_document" "ops_key" {
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" means this key only; other principals than the named roles use it only through EC2, RDS and Secrets Manager (kms:ViaService).
  #checkov:skip=CKV_AWS_356:A key policy's resource "*" means this key only (AWS requires "*" in key policies).
  #checkov:skip=CKV_AWS_109:Key administration (PutKeyPolicy) is limited to the named admin roles; grants only for AWS resources (kms:GrantIsForAWSResource).
  statement {
    sid    = "KeyAdministration"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = var.kms_admin_role_arns
    }
    actions = [
      "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:DescribeKey", "kms:EnableKey", "kms:DisableKey",
      "kms:EnableKeyRotation", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants",
      "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
      "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription",
    ]
    resources = ["*"]
  }
  statement {
    sid    = "InstancesReadSecrets"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.instance.arn]
    }
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
  statement {
    # EC2 attaches the SQLite data volume (database.tf) to the instance that asks.
    sid    = "InstancesAttachTheDataVolume"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.instance.arn]
    }
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
  statement {
    sid    = "InstancesGrantEc2TheDataVolume"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.instance.arn]
    }
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
  statement {
    # Auto Scaling launches the instances, whose root volume uses this key.
    sid    = "AutoScalingLaunchesEncryptedVolumes"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [data.aws_iam_role.autoscaling.arn]
    }
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
    resources = ["*"]
  }
  statement {
    sid    = "AutoScalingAttachesEncryptedVolumes"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [data.aws_iam_role.autoscaling.arn]
    }
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
  statement {
    # Whoever applies this module (IAM-authorised principals of this account)
    # creates the encrypted data volume, database and secrets: EC2, RDS and
    # Secrets Manager use the key with the caller's identity, only through
    # those services.
    sid    = "AccountUseThroughEc2RdsAndSecretsManager"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.ops_key_services
    }
  }
  statement {
    sid    = "AccountGrantsThroughEc2AndRds"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.ops_key_services
    }
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
  statement {
    sid    = "ServicesInThisAccount"
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com", "secretsmanager.amazonaws.com", "rds.amazonaws.com"]
    }
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# Auto Scaling's service-linked role: it exists in every account that has had
# an Auto Scaling group (otherwise: aws iam create-service-linked-role
# --aws-service-name autoscaling.amazonaws.com). Without access to the key
# that encrypts the root volume, no instance launches.
data "aws_iam_role" "autoscaling" {
  name = "AWSServiceRoleForAutoScaling"
}

resource "aws_kms_key" "ops" {
  description             = "${var.name}: secrets, logs and database encryption"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.ops_key.json
  tags                    = var.tags

  lifecycle {
    # The database, its snapshots and the secrets are encrypted with it.
    prevent_destroy = true
  }
}
