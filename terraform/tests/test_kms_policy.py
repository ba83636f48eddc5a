"""The KMS policy check passes on the module and fails on broken policies."""
import shutil
import tempfile
import unittest
from pathlib import Path

import hcl2

from check_kms_policy import check

MODULE = Path(__file__).resolve().parent.parent / "modules" / "signet"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "single-region"


def broken_module(replace_from, replace_to):
    """A copy of the module with kms.tf edited."""
    tmp = Path(tempfile.mkdtemp())
    for tf in MODULE.glob("*.tf"):
        shutil.copy(tf, tmp / tf.name)
    kms = (tmp / "kms.tf").read_text()
    assert replace_from in kms, replace_from
    (tmp / "kms.tf").write_text(kms.replace(replace_from, replace_to, 1))
    return tmp


class KmsPolicy(unittest.TestCase):
    def test_every_tf_file_parses(self):
        for d in (MODULE, EXAMPLE):
            for tf in d.glob("*.tf"):
                with open(tf) as f:
                    hcl2.load(f)

    def test_the_module_passes(self):
        self.assertEqual(check(MODULE), [])

    def test_decrypt_without_condition_fails(self):
        broken = broken_module('''    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    dynamic "condition" {''', '''    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    dynamic "unused" {''')
        problems = check(broken)
        self.assertTrue(any("EnclaveDecryptOnlyWithAttestation" in p and "kms:Decrypt" in p for p in problems), problems)

    def test_a_wildcard_action_for_admins_fails(self):
        broken = broken_module('"kms:CreateAlias",', '"kms:*",')
        problems = check(broken)
        self.assertTrue(any("KeyAdministrationWithoutUse" in p and "kms:Decrypt" in p for p in problems), problems)

    def test_create_star_counts_as_create_grant(self):
        broken = broken_module('"kms:CreateAlias",', '"kms:Create*",')
        self.assertTrue(any("kms:CreateGrant" in p for p in check(broken)))

    def test_a_condition_on_another_pcr_fails(self):
        broken = broken_module('"kms:RecipientAttestation:ImageSha384" = var.enclave_pcr0', '"kms:RecipientAttestation:PCR4" = var.enclave_pcr0')
        self.assertNotEqual(check(broken), [])

    def test_a_grant_fails(self):
        broken = broken_module("# A second key", '''resource "aws_kms_grant" "oops" {
  name              = "oops"
  key_id            = aws_kms_key.sealing.key_id
  grantee_principal = aws_iam_role.instance.arn
  operations        = ["Decrypt"]
}

# A second key''')
        self.assertTrue(any("aws_kms_grant" in p for p in check(broken)))

    def test_a_wildcard_principal_fails(self):
        broken = broken_module("identifiers = var.kms_admin_role_arns", 'identifiers = ["*"]')
        self.assertTrue(any("wildcard principal" in p for p in check(broken)))

    def test_a_deny_to_everyone_passes(self):
        # The module's own DenyRetiredSealingKeyVersions: Principal "*", Deny.
        self.assertIn('identifiers = ["*"]', (MODULE / "kms.tf").read_text())
        self.assertEqual(check(MODULE), [])

    def test_a_wildcard_principal_in_a_dynamic_allow_fails(self):
        # The retired-versions statement turned into an Allow: "*", no attestation.
        broken = broken_module(
            'sid    = "DenyRetiredSealingKeyVersions"\n      effect = "Deny"',
            'sid    = "DenyRetiredSealingKeyVersions"\n      effect = "Allow"',
        )
        problems = check(broken)
        self.assertTrue(any("DenyRetiredSealingKeyVersions" in p and "wildcard principal" in p for p in problems), problems)
        self.assertTrue(any("DenyRetiredSealingKeyVersions" in p and "without kms:RecipientAttestation:ImageSha384" in p for p in problems), problems)

    def test_a_dynamic_allow_without_attestation_fails(self):
        broken = broken_module(
            "  # Retired sealing-key versions:",
            """  dynamic "statement" {
    for_each = ["x"]
    content {
      sid = "SneakyDecrypt"
      principals {
        type        = "AWS"
        identifiers = [aws_iam_role.instance.arn]
      }
      actions   = ["kms:Decrypt"]
      resources = ["*"]
    }
  }

  # Retired sealing-key versions:""",
        )
        problems = check(broken)
        self.assertTrue(any("SneakyDecrypt" in p and "kms:Decrypt" in p for p in problems), problems)

    def test_no_deployment_context_fails(self):
        broken = broken_module(
            'variable = "kms:EncryptionContext:signet-deployment"\n      values   = [var.name]',
            'variable = "kms:EncryptionContext:signet-deployment"\n      values   = ["*"]',
        )
        problems = check(broken)
        self.assertTrue(any("EnclaveDecryptOnlyWithAttestation" in p and "signet-deployment" in p for p in problems), problems)

    def test_no_purpose_context_fails(self):
        broken = broken_module('variable = "kms:EncryptionContext:signet-purpose"', 'variable = "kms:EncryptionContext:signet-purpos"')
        problems = check(broken)
        self.assertTrue(any("EnclaveDecryptOnlyWithAttestation" in p and "signet-purpose" in p for p in problems), problems)

    def test_no_retired_versions_deny_fails(self):
        broken = broken_module(
            "for_each = length(local.retired_sealing_key_versions) == 0 ? [] : [local.retired_sealing_key_versions]",
            "for_each = []",
        )
        problems = check(broken)
        self.assertTrue(any("no Deny of every decrypt-class action" in p for p in problems), problems)

    def test_a_retired_versions_deny_for_the_instances_only_fails(self):
        broken = broken_module('identifiers = ["*"]', "identifiers = [aws_iam_role.instance.arn]")
        problems = check(broken)
        self.assertTrue(any("no Deny of every decrypt-class action to every principal" in p for p in problems), problems)

    def test_a_retired_versions_deny_of_decrypt_only_fails(self):
        broken = broken_module(
            'actions   = local.decrypt_class_actions\n      resources = ["*"]\n      condition {',
            'actions   = ["kms:Decrypt"]\n      resources = ["*"]\n      condition {',
        )
        problems = check(broken)
        self.assertTrue(any("no Deny of every decrypt-class action" in p for p in problems), problems)

    def test_a_retired_versions_deny_narrowed_by_another_condition_fails(self):
        broken = broken_module(
            "        values   = statement.value\n      }",
            """        values   = statement.value
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceVpce"
        values   = ["vpce-0123456789abcdef0"]
      }""",
        )
        problems = check(broken)
        self.assertTrue(any("no Deny of every decrypt-class action" in p for p in problems), problems)

    def test_retired_versions_denied_when_none_is_retired_fails(self):
        broken = broken_module(
            "for_each = length(local.retired_sealing_key_versions) == 0 ? [] : [local.retired_sealing_key_versions]",
            'for_each = [["1"]]',
        )
        problems = check(broken)
        self.assertTrue(any("though none is retired" in p for p in problems), problems)

    def test_checkovs_cloudsplaining_checks_run_on_the_rendered_policy(self):
        # (cloudsplaining passes over statements with conditions: the administrators' has none)
        broken = broken_module('"kms:CreateAlias",', '"kms:CreateAlias", "iam:CreateAccessKey",')
        problems = check(broken)
        self.assertTrue(any("CKV_AWS_107" in p and "iam:CreateAccessKey" in p for p in problems), problems)

    def test_a_policy_the_renderer_cannot_read_fails(self):
        broken = broken_module("values   = [var.name]", "values   = [upper(var.name)]")
        problems = check(broken)
        self.assertTrue(any("cannot render the policy" in p and "upper()" in p for p in problems), problems)


if __name__ == "__main__":
    unittest.main()
