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


if __name__ == "__main__":
    unittest.main()
