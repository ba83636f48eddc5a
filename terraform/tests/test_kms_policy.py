"""The KMS policy check passes on the module and fails on broken policies."""
import shutil
import tempfile
import unittest
from pathlib import Path

import hcl2

import check_kms_policy
import kms_policy_logic as logic
from check_kms_policy import CONTEXT, SAMPLE_ROLE, SET_A, SET_B, check, render_sample

MODULE = Path(__file__).resolve().parent.parent / "modules" / "signet"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "single-region"


def broken_module(replace_from, replace_to, fname="kms.tf"):
    """A copy of the module with kms.tf (or `fname`) edited."""
    tmp = Path(tempfile.mkdtemp())
    for tf in MODULE.glob("*.tf"):
        shutil.copy(tf, tmp / tf.name)
    text = (tmp / fname).read_text()
    assert replace_from in text, replace_from
    (tmp / fname).write_text(text.replace(replace_from, replace_to, 1))
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
        broken = broken_module('''      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = ["*"]
      dynamic "condition" {''', '''      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
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
        broken = broken_module('"kms:RecipientAttestation:ImageSha384" = s.pcr0', '"kms:RecipientAttestation:PCR4" = s.pcr0', fname="settings.tf")
        problems = check(broken)
        self.assertTrue(any("without kms:RecipientAttestation:ImageSha384" in p for p in problems), problems)
        self.assertTrue(any("PCR4, which no PCR set gives" in p for p in problems), problems)

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
            'variable = "kms:EncryptionContext:signet-deployment"\n        values   = [var.name]',
            'variable = "kms:EncryptionContext:signet-deployment"\n        values   = ["*"]',
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


VERSION = {"kms:EncryptionContext:signet-sealing-key-version": "1"}


def decide(policy, pcrs, action="kms:Decrypt", caller=SAMPLE_ROLE, **context):
    return logic.decide(policy, caller, action, logic.attested(pcrs, **{**CONTEXT, **VERSION, **context}))


class SeveralImages(unittest.TestCase):
    """The rendered policy with two PCR sets, decided as KMS would."""

    @classmethod
    def setUpClass(cls):
        cls.policy, error = render_sample(MODULE, [], [SET_A, SET_B])
        assert cls.policy is not None, error

    def test_two_sets_are_each_admitted(self):
        for pcrs in (SET_A, SET_B):
            for action in ("kms:Decrypt", "kms:GenerateDataKey"):
                self.assertEqual(decide(self.policy, pcrs, action), logic.ALLOW, (pcrs["pcr0"][:4], action))

    def test_one_statement_per_set(self):
        sids = [st["Sid"] for st in self.policy["Statement"] if st["Sid"].startswith("EnclaveDecryptOnlyWithAttestation")]
        self.assertEqual(sids, ["EnclaveDecryptOnlyWithAttestation0", "EnclaveDecryptOnlyWithAttestation1"])
        second = self.policy["Statement"][2]["Condition"]["StringEqualsIgnoreCase"]
        self.assertEqual(second["kms:RecipientAttestation:ImageSha384"], SET_B["pcr0"])
        self.assertEqual(second["kms:RecipientAttestation:PCR8"], SET_B["pcr8"])
        self.assertNotIn("kms:RecipientAttestation:PCR8", self.policy["Statement"][1]["Condition"]["StringEqualsIgnoreCase"])

    def test_refuses_a_mixed_set(self):
        mixed = dict(SET_A, pcr1=SET_B["pcr1"])
        self.assertEqual(decide(self.policy, mixed), logic.IMPLICIT_DENY)
        for taken, pcrs in check_kms_policy.mixes([SET_A, SET_B]):
            self.assertNotEqual(decide(self.policy, pcrs), logic.ALLOW, taken)

    def test_refuses_a_signed_image_without_its_signature(self):
        # Set B names PCR8: B's PCR0-2 with another signing certificate is not B.
        self.assertEqual(decide(self.policy, dict(SET_B, pcr8="ee" * 48)), logic.IMPLICIT_DENY)
        self.assertEqual(decide(self.policy, dict(SET_B, pcr8=None)), logic.IMPLICIT_DENY)

    def test_refuses_debug_zeros(self):
        zeros = {"pcr0": "0" * 96, "pcr1": "0" * 96, "pcr2": "0" * 96}
        self.assertEqual(decide(self.policy, zeros), logic.IMPLICIT_DENY)

    def test_refuses_a_call_without_attestation(self):
        self.assertEqual(logic.decide(self.policy, SAMPLE_ROLE, "kms:Decrypt", dict(CONTEXT, **VERSION)), logic.EXPLICIT_DENY)

    def test_refuses_another_deployment(self):
        self.assertEqual(decide(self.policy, SET_A, **{"kms:EncryptionContext:signet-deployment": "other"}), logic.IMPLICIT_DENY)

    def test_refuses_the_key_administrators(self):
        admin = check_kms_policy.SAMPLE["kms_admin_role_arns"][0]
        self.assertEqual(decide(self.policy, SET_A, caller=admin), logic.EXPLICIT_DENY)

    def test_refuses_a_dropped_set(self):
        # The runbook's last upgrade step drops the old image's set: it is locked out.
        policy, error = render_sample(MODULE, [], [SET_B])
        self.assertIsNotNone(policy, error)
        self.assertEqual(decide(policy, SET_A), logic.IMPLICIT_DENY)
        self.assertEqual(decide(policy, SET_B), logic.ALLOW)

    def test_refuses_a_retired_version_for_every_set(self):
        policy, error = render_sample(MODULE, [1], [SET_A, SET_B])
        self.assertIsNotNone(policy, error)
        for pcrs in (SET_A, SET_B):
            self.assertEqual(decide(policy, pcrs), logic.EXPLICIT_DENY)
            self.assertEqual(decide(policy, pcrs, **{"kms:EncryptionContext:signet-sealing-key-version": "2"}), logic.ALLOW)


class BrokenSets(unittest.TestCase):
    def test_lists_of_pcrs_in_one_statement_fail(self):
        # One statement whose conditions list every set's values: KMS ORs
        # the values of a key, so PCR0 of one image with PCR1 of another passes.
        tmp = broken_module("values   = [condition.value]", "values   = condition.value")
        settings = (tmp / "settings.tf").read_text()
        start = settings.index("  attestation_pcr_conditions = [for s in var.enclave_pcr_sets : merge(")
        end = settings.index("  )]\n", start) + len("  )]\n")
        (tmp / "settings.tf").write_text(
            settings[:start]
            + """  attestation_pcr_conditions = [{
    "kms:RecipientAttestation:ImageSha384" = [for s in var.enclave_pcr_sets : s.pcr0]
    "kms:RecipientAttestation:PCR1"        = [for s in var.enclave_pcr_sets : s.pcr1]
    "kms:RecipientAttestation:PCR2"        = [for s in var.enclave_pcr_sets : s.pcr2]
  }]
"""
            + settings[end:]
        )
        problems = check(tmp)
        self.assertTrue(any("has 2 values (KMS ORs them" in p for p in problems), problems)
        self.assertTrue(any("a document mixing PCRs of two sets (pcr0 of set 0, pcr1 of set 1, pcr2 of set 0) may Decrypt" in p for p in problems), problems)

    def test_a_statement_for_the_first_set_only_fails(self):
        broken = broken_module("for_each = local.attestation_pcr_conditions", "for_each = [local.attestation_pcr_conditions[0]]")
        problems = check(broken)
        self.assertTrue(any("no statement allows PCR set 1" in p and "locked out" in p for p in problems), problems)
        self.assertTrue(any("an enclave attested with set 1 is refused kms:Decrypt" in p for p in problems), problems)

    def test_a_set_without_its_pcr8_fails(self):
        broken = broken_module('s.pcr8 == null ? {} : { "kms:RecipientAttestation:PCR8" = s.pcr8 },', "{},", fname="settings.tf")
        problems = check(broken)
        self.assertTrue(any("which are not one whole set" in p for p in problems), problems)


class PolicyLogic(unittest.TestCase):
    """kms_policy_logic follows AWS's documented evaluation."""

    def statement(self, condition, effect="Allow", principal=None):
        return {"Version": "2012-10-17", "Statement": [{"Sid": "S", "Effect": effect, "Action": "kms:Decrypt", "Resource": "*", "Principal": principal or {"AWS": "arn:aws:iam::1:role/r"}, "Condition": condition}]}

    def test_values_of_a_key_are_ored_and_keys_anded(self):
        p = self.statement({"StringEquals": {"k1": ["a", "b"], "k2": "c"}})
        caller = "arn:aws:iam::1:role/r"
        self.assertEqual(logic.decide(p, caller, "kms:Decrypt", {"k1": "b", "k2": "c"}), logic.ALLOW)
        self.assertEqual(logic.decide(p, caller, "kms:Decrypt", {"k1": "b", "k2": "a"}), logic.IMPLICIT_DENY)
        self.assertEqual(logic.decide(p, caller, "kms:Decrypt", {"k1": "b"}), logic.IMPLICIT_DENY)

    def test_case_and_null(self):
        caller = "arn:aws:iam::1:role/r"
        p = self.statement({"StringEqualsIgnoreCase": {"k": "AbC"}})
        self.assertEqual(logic.decide(p, caller, "kms:decrypt", {"k": "abc"}), logic.ALLOW)
        p = self.statement({"StringEquals": {"k": "AbC"}})
        self.assertEqual(logic.decide(p, caller, "kms:Decrypt", {"k": "abc"}), logic.IMPLICIT_DENY)
        p = self.statement({"Null": {"k": "true"}}, effect="Deny")
        self.assertEqual(logic.decide(p, caller, "kms:Decrypt", {}), logic.EXPLICIT_DENY)
        self.assertEqual(logic.decide(p, caller, "kms:Decrypt", {"k": "x"}), logic.IMPLICIT_DENY)

    def test_a_deny_wins(self):
        caller = "arn:aws:iam::1:role/r"
        p = self.statement({"StringEquals": {"k": "a"}})
        p["Statement"].append({"Effect": "Deny", "Action": "kms:*", "Resource": "*", "Principal": "*"})
        self.assertEqual(logic.decide(p, caller, "kms:Decrypt", {"k": "a"}), logic.EXPLICIT_DENY)

    def test_refuses_what_it_does_not_model(self):
        caller = "arn:aws:iam::1:role/r"
        for condition in ({"StringLike": {"k": "a*"}}, {"ForAnyValue:StringEquals": {"k": "a"}}, {"StringEqualsIfExists": {"k": "a"}}):
            with self.assertRaises(logic.PolicyError):
                logic.decide(self.statement(condition), caller, "kms:Decrypt", {"k": "a"})
        p = self.statement({})
        p["Statement"][0]["NotPrincipal"] = {"AWS": caller}
        with self.assertRaises(logic.PolicyError):
            logic.decide(p, caller, "kms:Decrypt", {})


if __name__ == "__main__":
    unittest.main()
