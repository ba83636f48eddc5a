"""render_kms_policy.py renders the module's sealing key policy as the AWS
provider would, and refuses what it does not understand."""
import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import render_kms_policy as r

HERE = Path(__file__).resolve().parent
MODULE = HERE.parent / "modules" / "signet"

PCR0, PCR1, PCR2, PCR8 = ("0a" * 48, "1b" * 48, "2c" * 48, "8d" * 48)
ACCOUNT = "111122223333"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/admin"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/signet-instance"
DECRYPT_CLASS_DESCENDING = [
    "kms:ReEncryptTo",
    "kms:ReEncryptFrom",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "kms:CreateGrant",
]
VERSION_KEY = "kms:EncryptionContext:signet-sealing-key-version"


def variables(**overrides):
    v = {
        "name": "prod-eu",
        "enclave_pcr_sets": [{"pcr0": PCR0, "pcr1": PCR1, "pcr2": PCR2}],
        "kms_admin_role_arns": [ADMIN],
    }
    v.update(overrides)
    return v


def render(module=MODULE, region="us-east-1", **overrides):
    return r.render(module, variables(**overrides), account=ACCOUNT, region=region, instance_role_arn=ROLE)


def by_sid(policy):
    return {s["Sid"]: s for s in policy["Statement"]}


def module_with(replace_from, replace_to, fname="kms.tf"):
    """A copy of the module with one file edited."""
    tmp = Path(tempfile.mkdtemp())
    for tf in MODULE.glob("*.tf"):
        shutil.copy(tf, tmp / tf.name)
    text = (tmp / fname).read_text()
    assert replace_from in text, replace_from
    (tmp / fname).write_text(text.replace(replace_from, replace_to, 1))
    return tmp


def tiny_module(statements, extra=""):
    """A module with only a sealing_key document holding `statements`."""
    tmp = Path(tempfile.mkdtemp())
    (tmp / "main.tf").write_text(
        'variable "name" {\n  type    = string\n  default = "x"\n}\n'
        + extra
        + '\ndata "aws_iam_policy_document" "sealing_key" {\n'
        + statements
        + "\n}\n"
    )
    return tmp


class TheModule(unittest.TestCase):
    def test_statement_sids(self):
        self.assertEqual(
            [s["Sid"] for s in render()["Statement"]],
            ["KeyAdministrationWithoutUse", "EnclaveDecryptOnlyWithAttestation0", "DenyUseWithoutAttestation", "DenyAdministratorsDecryption"],
        )

    def test_the_enclave_statement(self):
        self.assertEqual(
            by_sid(render())["EnclaveDecryptOnlyWithAttestation0"],
            {
                "Sid": "EnclaveDecryptOnlyWithAttestation0",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": "*",
                "Principal": {"AWS": ROLE},
                "Condition": {
                    "StringEquals": {
                        "kms:EncryptionContext:signet-deployment": "prod-eu",
                        "kms:EncryptionContext:signet-purpose": "sealing-key",
                    },
                    "StringEqualsIgnoreCase": {
                        "kms:RecipientAttestation:ImageSha384": PCR0,
                        "kms:RecipientAttestation:PCR1": PCR1,
                        "kms:RecipientAttestation:PCR2": PCR2,
                    },
                },
            },
        )

    def test_pcr8_only_when_given(self):
        cond = by_sid(render())["EnclaveDecryptOnlyWithAttestation0"]["Condition"]["StringEqualsIgnoreCase"]
        self.assertNotIn("kms:RecipientAttestation:PCR8", cond)
        signed = [{"pcr0": PCR0, "pcr1": PCR1, "pcr2": PCR2, "pcr8": PCR8}]
        cond = by_sid(render(enclave_pcr_sets=signed))["EnclaveDecryptOnlyWithAttestation0"]["Condition"]["StringEqualsIgnoreCase"]
        self.assertEqual(cond["kms:RecipientAttestation:PCR8"], PCR8)
        self.assertEqual(cond["kms:RecipientAttestation:ImageSha384"], PCR0)

    def test_one_statement_per_set_in_order(self):
        sets = [{"pcr0": c * 96, "pcr1": PCR1, "pcr2": PCR2} for c in "abcd"]
        policy = render(enclave_pcr_sets=sets)
        sids = [s["Sid"] for s in policy["Statement"]]
        self.assertEqual(sids[1:5], [f"EnclaveDecryptOnlyWithAttestation{i}" for i in range(4)])
        self.assertEqual(sids[5], "DenyUseWithoutAttestation")
        for i, c in enumerate("abcd"):
            cond = by_sid(policy)[f"EnclaveDecryptOnlyWithAttestation{i}"]["Condition"]["StringEqualsIgnoreCase"]
            self.assertEqual(cond["kms:RecipientAttestation:ImageSha384"], c * 96)

    def test_pcr_sets_are_converted_as_terraform_does(self):
        # optional pcr8 becomes null; an attribute the type does not name is dropped.
        policy = render(enclave_pcr_sets=[{"pcr0": PCR0, "pcr1": PCR1, "pcr2": PCR2, "pcr9": "x"}])
        cond = by_sid(policy)["EnclaveDecryptOnlyWithAttestation0"]["Condition"]["StringEqualsIgnoreCase"]
        self.assertEqual(sorted(cond), ["kms:RecipientAttestation:ImageSha384", "kms:RecipientAttestation:PCR1", "kms:RecipientAttestation:PCR2"])
        with self.assertRaisesRegex(r.RenderError, r"enclave_pcr_sets\[0\]: attribute 'pcr2' is required"):
            render(enclave_pcr_sets=[{"pcr0": PCR0, "pcr1": PCR1}])
        with self.assertRaisesRegex(r.RenderError, "wants a list"):
            render(enclave_pcr_sets={"pcr0": PCR0})

    def test_retired_versions_are_denied_to_everyone(self):
        policy = render(retired_sealing_key_versions=[1, 3])
        self.assertEqual(policy["Statement"][-1]["Sid"], "DenyRetiredSealingKeyVersions")
        self.assertEqual(
            by_sid(policy)["DenyRetiredSealingKeyVersions"],
            {
                "Sid": "DenyRetiredSealingKeyVersions",
                "Effect": "Deny",
                "Action": DECRYPT_CLASS_DESCENDING,
                "Resource": "*",
                "Principal": {"AWS": "*"},
                "Condition": {"StringEquals": {VERSION_KEY: ["1", "3"]}},
            },
        )
        one = by_sid(render(retired_sealing_key_versions=[2]))["DenyRetiredSealingKeyVersions"]
        self.assertEqual(one["Condition"], {"StringEquals": {VERSION_KEY: "2"}})

    def test_no_retired_versions_no_deny(self):
        for policy in (render(), render(retired_sealing_key_versions=[])):
            self.assertNotIn("DenyRetiredSealingKeyVersions", by_sid(policy))

    def test_retired_versions_must_be_numbers(self):
        with self.assertRaisesRegex(r.RenderError, "not a number"):
            render(retired_sealing_key_versions=["1"])

    def test_administrators(self):
        admin2 = f"arn:aws:iam::{ACCOUNT}:role/zz-admin"
        policy = by_sid(render(kms_admin_role_arns=[ADMIN, admin2]))
        # A set of several: sorted, then reversed, as the provider writes it.
        self.assertEqual(policy["KeyAdministrationWithoutUse"]["Principal"], {"AWS": [admin2, ADMIN]})
        self.assertEqual(policy["DenyAdministratorsDecryption"]["Principal"], {"AWS": [admin2, ADMIN]})
        self.assertEqual(policy["DenyAdministratorsDecryption"]["Action"], DECRYPT_CLASS_DESCENDING)
        self.assertNotIn("kms:Decrypt", policy["KeyAdministrationWithoutUse"]["Action"])
        self.assertEqual(by_sid(render())["KeyAdministrationWithoutUse"]["Principal"], {"AWS": ADMIN})

    def test_data_sources_and_partition(self):
        autoscaling = "arn:aws-cn:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        policy = r.render(
            MODULE,
            variables(),
            account=ACCOUNT,
            region="cn-north-1",
            instance_role_arn=ROLE.replace("arn:aws:", "arn:aws-cn:"),
            refs={"data.aws_iam_role.autoscaling.arn": autoscaling},
            document="ops_key",
        )
        text = json.dumps(policy)
        self.assertIn(f"arn:aws-cn:iam::{ACCOUNT}:root", text)
        self.assertIn("secretsmanager.cn-north-1.amazonaws.com", text)
        self.assertEqual(by_sid(policy)["AutoScalingLaunchesEncryptedVolumes"]["Principal"], {"AWS": autoscaling})

    def test_json_is_the_providers(self):
        policy = render()
        pretty = r.go_json(policy)
        self.assertEqual(json.loads(pretty), policy)
        self.assertTrue(pretty.startswith('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {\n      "Sid": "KeyAdministrationWithoutUse",\n      "Effect": "Allow",\n      "Action": [\n'))
        minified = r.go_json(policy, minified=True)
        self.assertEqual(minified, json.dumps(policy, separators=(",", ":"), ensure_ascii=False))


class Semantics(unittest.TestCase):
    def test_parentheses_count(self):
        # python-hcl2 returns this as `false && true || true ? ...`.
        m = tiny_module('  statement {\n    sid = false && (true || true) ? "Wrong" : "Right"\n    actions = ["s3:GetObject"]\n  }')
        self.assertEqual(r.render(m)["Statement"][0]["Sid"], "Right")

    def test_dynamic_statements_stay_where_they_are(self):
        m = tiny_module(
            '  statement {\n    sid = "A"\n    actions = ["s3:GetObject"]\n  }\n'
            '  dynamic "statement" {\n    for_each = ["x", "y"]\n    iterator = it\n    content {\n'
            '      sid = "B${it.key}${it.value}"\n      actions = ["s3:GetObject"]\n    }\n  }\n'
            '  statement {\n    sid = "C"\n    actions = ["s3:GetObject"]\n  }'
        )
        self.assertEqual([s["Sid"] for s in r.render(m)["Statement"]], ["A", "B0x", "B1y", "C"])

    def test_escaping_and_policy_variables(self):
        m = tiny_module(
            '  statement {\n    actions = ["s3:GetObject"]\n'
            '    resources = ["arn:aws:s3:::a&b<c>/&{aws:username}/*"]\n'
            '    condition {\n      test = "StringLike"\n      variable = "s3:prefix"\n      values = ["&{aws:username}/", "x"]\n    }\n  }'
        )
        policy = r.render(m)
        st = policy["Statement"][0]
        self.assertNotIn("Sid", st)
        self.assertEqual(st["Resource"], "arn:aws:s3:::a&b<c>/${aws:username}/*")
        self.assertEqual(st["Condition"], {"StringLike": {"s3:prefix": ["${aws:username}/", "x"]}})
        self.assertIn(r"a\u0026b\u003cc\u003e", r.go_json(policy))

    def test_conditions_merge_by_test(self):
        m = tiny_module(
            '  statement {\n    actions = ["kms:Decrypt"]\n'
            '    condition {\n      test = "StringEquals"\n      variable = "b"\n      values = ["2"]\n    }\n'
            '    condition {\n      test = "Bool"\n      variable = "c"\n      values = [true]\n    }\n'
            '    condition {\n      test = "StringEquals"\n      variable = "a"\n      values = [1]\n    }\n  }'
        )
        self.assertEqual(r.render(m)["Statement"][0]["Condition"], {"Bool": {"c": "true"}, "StringEquals": {"a": "1", "b": "2"}})

    def test_locals_for_and_merge(self):
        m = tiny_module(
            '  statement {\n    actions = local.actions\n    resources = [for v in local.versions : "v${v}" if v != 2]\n  }',
            extra='locals {\n  versions = [1, 2, 3]\n  actions = concat(["a:B"], [tostring(length(merge({"x" = 1}, null, {"y" = 2})))])\n}\n',
        )
        st = r.render(m)["Statement"][0]
        self.assertEqual(st["Action"], ["a:B", "2"])
        self.assertEqual(st["Resource"], ["v3", "v1"])


class Refusals(unittest.TestCase):
    def assertRefused(self, module, pattern, **kw):
        with self.assertRaisesRegex(r.RenderError, pattern):
            render(module, **kw)

    def test_unknown_function(self):
        self.assertRefused(module_with("values   = [var.name]", "values   = [upper(var.name)]"), r"upper\(\) is not supported")

    def test_splat(self):
        self.assertRefused(module_with("identifiers = [aws_iam_role.instance.arn]", "identifiers = aws_iam_role.instance[*].arn"), "splat")

    def test_arithmetic(self):
        self.assertRefused(module_with("values   = [var.name]", 'values   = [var.name + "x"]'), r"arithmetic \(\+\)")

    def test_unknown_reference(self):
        self.assertRefused(module_with("identifiers = [aws_iam_role.instance.arn]", "identifiers = [aws_iam_role.other.arn]"), "aws_iam_role.other.arn is not known")
        self.assertRefused(module_with("values   = [var.name]", "values   = [each.value]"), r"each\.\* references are not modelled")

    def test_undeclared_variable(self):
        self.assertRefused(module_with("values   = [var.name]", "values   = [var.nam]"), "var.nam is not declared")

    def test_a_required_variable_not_given(self):
        with self.assertRaisesRegex(r.RenderError, r"var.kms_admin_role_arns has no default: pass --var kms_admin_role_arns"):
            v = variables()
            del v["kms_admin_role_arns"]
            r.render(MODULE, v, account=ACCOUNT, region="us-east-1", instance_role_arn=ROLE)

    def test_template_directive(self):
        self.assertRefused(module_with('values   = ["sealing-key"]', 'values   = ["%{ if true }sealing-key%{ endif }"]'), "template directive")

    def test_heredoc(self):
        self.assertRefused(module_with('values   = ["sealing-key"]', "values   = [<<EOT\nsealing-key\nEOT\n      ]"), "heredoc")

    def test_for_object(self):
        self.assertRefused(module_with("for_each = statement.value", "for_each = {for k, v in statement.value : k => v}"), "for` expression that builds an object")

    def test_document_arguments(self):
        self.assertRefused(
            module_with('data "aws_iam_policy_document" "sealing_key" {', 'data "aws_iam_policy_document" "sealing_key" {\n  override_policy_documents = []'),
            "override_policy_documents not supported",
        )

    def test_statement_arguments(self):
        self.assertRefused(module_with('sid    = "DenyUseWithoutAttestation"', 'sid    = "DenyUseWithoutAttestation"\n    principal = "x"'), "principal not supported")

    def test_ambiguous_conditions(self):
        self.assertRefused(
            module_with('variable = "kms:EncryptionContext:signet-purpose"', 'variable = "kms:EncryptionContext:signet-deployment"'),
            "two conditions on StringEquals kms:EncryptionContext:signet-deployment",
        )

    def test_a_sid_the_provider_refuses(self):
        self.assertRefused(module_with('sid    = "DenyUseWithoutAttestation"', 'sid    = "Deny-Use"'), "only letters and digits")
        self.assertRefused(module_with('sid    = "DenyUseWithoutAttestation"', 'sid    = "EnclaveDecryptOnlyWithAttestation0"'), "duplicate Sid")

    def test_syntax_errors(self):
        self.assertRefused(module_with("values   = [var.name]", "values   = [var.name"), "unterminated block")
        self.assertRefused(module_with("values   = [var.name]", "values   = [var.name]]"), r"kms.tf:\d+: unbalanced \]")
        # The renderer parses an expression when it evaluates it; python-hcl2 reads every file first.
        self.assertRefused(module_with("values   = [var.name]", "values   = [var.name] x"), "python-hcl2 cannot parse it")


class CommandLine(unittest.TestCase):
    ARGS = [
        "--var", "name=signet",
        "--var", f'enclave_pcr_sets=[{{"pcr0": "{PCR0}", "pcr1": "{PCR1}", "pcr2": "{PCR2}"}}]',
        "--var", f'kms_admin_role_arns=["{ADMIN}"]',
        "--var", "retired_sealing_key_versions=[1]",
        "--account", ACCOUNT,
        "--region", "us-east-1",
        "--instance-role-arn", ROLE,
    ]  # fmt: skip

    def run_cli(self, module, *extra):
        return subprocess.run([sys.executable, str(HERE / "render_kms_policy.py"), str(module), *self.ARGS, *extra], capture_output=True, text=True)

    def test_prints_the_policy(self):
        proc = self.run_cli(MODULE)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        policy = json.loads(proc.stdout)
        self.assertEqual(policy, render(name="signet", retired_sealing_key_versions=[1]))
        self.assertEqual(proc.stdout, r.go_json(policy) + "\n")
        self.assertEqual(by_sid(policy)["DenyRetiredSealingKeyVersions"]["Condition"], {"StringEquals": {VERSION_KEY: "1"}})
        args = [a.replace(f'"pcr2": "{PCR2}"', f'"pcr2": "{PCR2}", "pcr8": "{PCR8}"') for a in self.ARGS]
        proc = subprocess.run([sys.executable, str(HERE / "render_kms_policy.py"), str(MODULE), *args, "--minified"], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("\n", proc.stdout.strip())
        self.assertIn(PCR8, proc.stdout)

    def test_fails_loudly(self):
        proc = self.run_cli(module_with("values   = [var.name]", "values   = [upper(var.name)]"))
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stdout, "")
        self.assertIn("render_kms_policy: error: kms.tf:", proc.stderr)
        self.assertIn("upper() is not supported", proc.stderr)
        proc = self.run_cli(MODULE, "--var", "desired_capacity=[1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("--var desired_capacity: number wants a JSON value", proc.stderr)
        proc = self.run_cli(MODULE, "--var", "unknown=1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("declares no variable 'unknown'", proc.stderr)


if __name__ == "__main__":
    unittest.main()
