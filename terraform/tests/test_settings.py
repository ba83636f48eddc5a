"""The module's production settings, its protections and its PCR sets.

- What the hosts are told (/etc/signet.env in the rendered user data): rate
  limits on, /metrics behind a token, the admin network, the operator
  quorum, the drain, the backup horizon and the audit export (its token
  from Secrets Manager, never from Terraform), with their defaults and when
  changed; the drain covers the load balancer's deregistration delay and its
  health check, and systemd waits for it.
- What survives a plan: prevent_destroy on both KMS keys, the database and
  the data volume; the KMS deletion window is the variable.
- The real `terraform` binary (no provider, no AWS: the module's
  variables.tf and settings.tf in a scratch root) refuses what the module's
  validations and preconditions refuse (no PCR set, five sets, debug zeros,
  a drain shorter than the deregistration delay, …), accepts the good
  values, and computes the same settings and attestation policy as the
  Python evaluator that renders the user data (check_database.py).
- terraform/pcr_sets.py, the runbook's upgrade and rollback tool.

Without `terraform` on PATH the real-Terraform part is skipped, loudly; with
CI=true it fails instead.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from check_database import Checker, Env, Module, heredocs, unit_settings
from test_user_data import rendered

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULE = HERE.parent / "modules" / "signet"
PCR_SETS = HERE.parent / "pcr_sets.py"
TERRAFORM = shutil.which("terraform")

SET_A = {"pcr0": "a0" * 48, "pcr1": "a1" * 48, "pcr2": "a2" * 48}
SET_B = {"pcr0": "b0" * 48, "pcr1": "b1" * 48, "pcr2": "b2" * 48, "pcr8": "b8" * 48}
SIEM = "https://siem.example.com:8443/ingest/signet"
ADMIN = ["10.20.0.0/24"]  # check_database's sample

DEFAULTS = {
    "METRICS_REQUIRE_API_KEY": "true",
    "RATE_LIMIT_WINDOW_MS": "60000",
    "RATE_LIMIT_PER_USER": "1200",
    "RATE_LIMIT_PER_IDENTITY_SIGN": "120",
    "RATE_LIMIT_CHALLENGES_PER_IP": "30",
    "RATE_LIMIT_AUTH_FAILURES_PER_IP": "60",
    "SIGNET_DRAIN_SECONDS": "35",
    "ADMIN_ALLOWED_CIDRS": "10.20.0.0/24",
    "SIGNET_OPERATOR_QUORUM": "2",
    "SIGNET_BACKUP_RETENTION_DAYS": "14",
}

# Variables the module sets that signet-host does not read yet (a host side
# that lands separately). Empty: the host reads every one. A variable added
# here must leave when the host reads it (the test below fails until it
# does), so that the module never sets a variable the host silently ignores.
NOT_READ_YET: set[str] = set()


def appended_settings(script):
    """The KEY=VALUE lines the user data appends to /etc/signet.env."""
    body = heredocs(script).get("/etc/signet.env")
    if body is None:
        raise AssertionError("the user data appends no settings to /etc/signet.env")
    out = {}
    for line in body.split("\n"):
        m = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(\S*)", line)
        if not m:
            raise AssertionError(f"not KEY=VALUE: {line!r}")
        if m.group(1) in out:
            raise AssertionError(f"{m.group(1)} twice")
        out[m.group(1)] = m.group(2)
    return out


def host_variables():
    """The names in signet-host's table of variables (host/src/config.rs)."""
    text = (ROOT / "host" / "src" / "config.rs").read_text()
    table = re.search(r"pub const VARIABLES: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert table, "no VARIABLES table in host/src/config.rs"
    return set(re.findall(r'"([A-Z0-9_]+)"', table.group(1)))


class HostSettings(unittest.TestCase):
    def test_production_defaults(self):
        for enable_rds in (False, True):
            self.assertEqual(appended_settings(rendered(enable_rds)), DEFAULTS)

    def test_each_variable_reaches_the_host(self):
        settings = appended_settings(
            rendered(
                True,
                rate_limit_window_ms=10000,
                rate_limit_per_client=50,
                rate_limit_per_wallet_sign=7,
                rate_limit_challenges_per_ip=5,
                rate_limit_auth_failures_per_ip=9,
                admin_allowed_cidrs=["192.0.2.0/28", "2001:db8::/48"],
                operator_quorum=1,
                backup_retention_days=30,
                audit_export_url=SIEM,
                public_url="https://signet.example.com",
                lb_deregistration_delay_seconds=100,
            )
        )
        self.assertEqual(
            settings,
            dict(
                DEFAULTS,
                RATE_LIMIT_WINDOW_MS="10000",
                RATE_LIMIT_PER_USER="50",
                RATE_LIMIT_PER_IDENTITY_SIGN="7",
                RATE_LIMIT_CHALLENGES_PER_IP="5",
                RATE_LIMIT_AUTH_FAILURES_PER_IP="9",
                ADMIN_ALLOWED_CIDRS="192.0.2.0/28,2001:db8::/48",
                SIGNET_OPERATOR_QUORUM="1",
                SIGNET_BACKUP_RETENTION_DAYS="30",
                AUDIT_EXPORT_URL=SIEM,
                SIGNET_PUBLIC_URL="https://signet.example.com",
                SIGNET_DRAIN_SECONDS="105",
            ),
        )

    def test_the_host_reads_what_the_module_sets(self):
        script = rendered(False, audit_export_url=SIEM)
        names = set(appended_settings(script)) | {"AUDIT_EXPORT_TOKEN"}
        names |= set(re.findall(r'^\s*echo "([A-Z0-9_]+)=', script, re.M))
        read = host_variables()
        self.assertEqual(sorted(names - read - NOT_READ_YET), [], "the module sets variables signet-host does not read")
        self.assertEqual(sorted(NOT_READ_YET & read), [], "signet-host reads these now: remove them from NOT_READ_YET")

    def test_settings_come_after_the_base_environment(self):
        script = rendered(False)
        first = script.index("} > /etc/signet.env")
        appended = script.index("cat >> /etc/signet.env <<'ENV'")
        self.assertLess(first, appended, "the settings would be overwritten by the base environment")

    def test_no_rate_limit_is_off(self):
        settings = appended_settings(rendered(False))
        for name in ("RATE_LIMIT_PER_USER", "RATE_LIMIT_PER_IDENTITY_SIGN", "RATE_LIMIT_CHALLENGES_PER_IP", "RATE_LIMIT_AUTH_FAILURES_PER_IP"):
            self.assertGreater(int(settings[name]), 0, name)


class Drain(unittest.TestCase):
    def env(self, **variables):
        return Checker(MODULE).env(True, variables=variables)

    def test_the_drain_covers_the_deregistration_delay_and_the_health_check(self):
        for dereg, drain in ((30, 35), (0, 25), (15, 25), (20, 25), (100, 105), (295, 300)):
            env = self.env(lb_deregistration_delay_seconds=dereg)
            self.assertEqual(env.local("drain_seconds"), drain, dereg)
            self.assertGreaterEqual(env.local("drain_seconds"), dereg)
        self.assertEqual(self.env(drain_seconds=90).local("drain_seconds"), 90)

    def test_the_target_group_uses_the_variable_and_the_health_check_of_the_derivation(self):
        module = Module(MODULE)
        tg = module.of_type("aws_lb_target_group")["api"]
        env = self.env(lb_deregistration_delay_seconds=77)
        self.assertEqual(env.value(tg["deregistration_delay"]), 77)
        hc = tg["health_check"][0]
        self.assertEqual(env.value(hc["interval"]) * env.value(hc["unhealthy_threshold"]), 20)
        self.assertEqual(env.value(hc["path"]), "/ready")
        self.assertEqual(env.value(tg["preserve_client_ip"]), "true")

    def preconditions(self, env):
        body = Module(MODULE).resources[("terraform_data", "settings")]
        return [(env.value(p["condition"]), str(p["error_message"])) for lc in body["lifecycle"] for p in lc["precondition"]]

    def test_refuses_a_drain_shorter_than_the_deregistration_delay(self):
        self.assertEqual([ok for ok, _ in self.preconditions(self.env())], [True])
        self.assertEqual([ok for ok, _ in self.preconditions(self.env(drain_seconds=30))], [True])
        for variables in ({"drain_seconds": 29}, {"drain_seconds": 19, "lb_deregistration_delay_seconds": 0}, {"drain_seconds": 50, "lb_deregistration_delay_seconds": 60}):
            (ok, message), = self.preconditions(self.env(**variables))
            self.assertFalse(ok, variables)
            self.assertIn("deregistration delay", message)

    def test_systemd_waits_for_the_drain(self):
        for variables, stop in (({}, 65), ({"lb_deregistration_delay_seconds": 200}, 235), ({"drain_seconds": 300}, 330)):
            script = rendered(False, **variables)
            unit = dict(unit_settings(heredocs(script)["/etc/systemd/system/signet-host.service"]))
            self.assertEqual(unit.get("TimeoutStopSec"), str(stop), variables)
            drain = int(appended_settings(script)["SIGNET_DRAIN_SECONDS"])
            self.assertGreaterEqual(int(unit["TimeoutStopSec"]), drain + 10 + 1)


def audit_part(script):
    m = re.search(r"^# The audit export's bearer token.*?^fi$", script, re.M | re.S)
    if not m:
        raise AssertionError("no audit export token block in the user data")
    return m.group(0)


def run_audit_part(script, secrets):
    """Runs the block with Secrets Manager replaced by `secrets`; returns
    (exit code, the env lines it added, stderr)."""
    with tempfile.TemporaryDirectory() as d:
        env_file = Path(d) / "signet.env"
        env_file.write_text("INTERNAL_API_KEY=x\n")
        store = "\n".join(f"{k}) printf '%s\\n' '{v}' ;;" for k, v in secrets.items())
        prelude = f"set -euo pipefail\nfetch() {{ case $1 in\n{store}\n*) echo 'ResourceNotFoundException' >&2; return 254 ;;\nesac; }}\n"
        body = audit_part(script).replace("/etc/signet.env", str(env_file))
        r = subprocess.run(["bash", "-c", prelude + body], capture_output=True, text=True, timeout=30)
        return r.returncode, env_file.read_text().splitlines()[1:], r.stderr


TOKEN = "siem-token-0123456789abcdef0123456789abcdef"


class AuditExport(unittest.TestCase):
    def test_off_by_default(self):
        script = rendered(False)
        self.assertNotIn("AUDIT_EXPORT_URL", appended_settings(script))
        self.assertEqual(run_audit_part(script, {"AUDIT_EXPORT_TOKEN": TOKEN})[:2], (0, []))

    def test_the_token_comes_from_secrets_manager(self):
        script = rendered(True, audit_export_url=SIEM)
        self.assertEqual(appended_settings(script)["AUDIT_EXPORT_URL"], SIEM)
        code, lines, err = run_audit_part(script, {"AUDIT_EXPORT_TOKEN": TOKEN})
        self.assertEqual(code, 0, err)
        self.assertEqual(lines, [f"AUDIT_EXPORT_TOKEN={TOKEN}"])
        self.assertNotIn(TOKEN, script)

    def test_refuses_to_boot_without_the_token_saying_where_to_put_it(self):
        code, lines, err = run_audit_part(rendered(False, audit_export_url=SIEM), {})
        self.assertNotEqual(code, 0)
        self.assertEqual(lines, [])
        self.assertIn("signet/AUDIT_EXPORT_TOKEN", err)

    def test_a_siem_without_a_token(self):
        script = rendered(False, audit_export_url=SIEM, audit_export_token=False)
        self.assertEqual(appended_settings(script)["AUDIT_EXPORT_URL"], SIEM)
        self.assertEqual(run_audit_part(script, {})[:2], (0, []))


class Protection(unittest.TestCase):
    def setUp(self):
        self.module = Module(MODULE)

    def prevent_destroy(self, rtype, name):
        body = self.module.resources[(rtype, name)]
        return any(lc.get("prevent_destroy") in (True, [True]) for lc in body.get("lifecycle", []))

    def test_what_holds_the_wallets_cannot_be_destroyed_by_a_plan(self):
        for rtype, name in (("aws_kms_key", "sealing"), ("aws_kms_key", "ops"), ("aws_db_instance", "signet"), ("aws_ebs_volume", "data")):
            self.assertTrue(self.prevent_destroy(rtype, name), f"{rtype}.{name} has no prevent_destroy")
        db = self.module.resources[("aws_db_instance", "signet")]
        self.assertIn(db["deletion_protection"], (True, [True]))
        self.assertIn(db["skip_final_snapshot"], (False, [False]))

    def test_the_kms_deletion_window_is_the_variable(self):
        env = Checker(MODULE).env(False, variables={"kms_deletion_window_days": 21})
        for name in ("sealing", "ops"):
            self.assertEqual(env.value(self.module.resources[("aws_kms_key", name)]["deletion_window_in_days"]), 21)
        self.assertEqual(Checker(MODULE).env(False).vars["kms_deletion_window_days"], 30)

    def test_backup_retention_drives_the_backups_and_the_host(self):
        env = Checker(MODULE).env(True, variables={"backup_retention_days": 21})
        self.assertEqual(env.value(self.module.resources[("aws_db_instance", "signet")]["backup_retention_period"]), 21)
        dlm = self.module.resources[("aws_dlm_lifecycle_policy", "data")]
        schedule = dlm["policy_details"][0]["schedule"][0]
        self.assertEqual(env.value(schedule["create_rule"][0]["interval"]), 24)
        self.assertEqual(env.value(schedule["retain_rule"][0]["count"]), 21)
        self.assertEqual(appended_settings(rendered(True, backup_retention_days=21))["SIGNET_BACKUP_RETENTION_DAYS"], "21")


class AttestationPolicy(unittest.TestCase):
    def policy(self, sets):
        script = rendered(False, enclave_pcr_sets=sets)
        return json.loads(heredocs(script)["/etc/signet/attestation-policy.json"])

    def test_the_hosts_accept_each_set_whole(self):
        policy = self.policy([SET_A, dict(SET_B)])
        self.assertEqual(policy["root"], "aws")
        self.assertEqual(policy["max_age_seconds"], 300)
        self.assertNotIn("allow_debug", policy)
        self.assertEqual(
            policy["pcr_sets"],
            [{"0": SET_A["pcr0"], "1": SET_A["pcr1"], "2": SET_A["pcr2"]}, {"0": SET_B["pcr0"], "1": SET_B["pcr1"], "2": SET_B["pcr2"], "8": SET_B["pcr8"]}],
        )

    def test_the_largest_user_data_fits_ec2s_limit(self):
        # Four signed images, webhook login, audit export, several admin networks.
        sets = [{"pcr0": c * 96, "pcr1": "1" * 96, "pcr2": "2" * 96, "pcr8": "8" * 96} for c in "abcd"]
        script = rendered(
            True,
            enclave_pcr_sets=sets,
            telegram_bot_username="SignetLoginBot",
            telegram_webhook_url="https://signet.example.com/telegram-webhook",
            audit_export_url=SIEM,
            admin_allowed_cidrs=["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "2001:db8::/32"],
        )
        self.assertLessEqual(len(script.encode()), 16 * 1024)

    def test_one_set(self):
        self.assertEqual(self.policy([SET_A])["pcr_sets"], [{"0": SET_A["pcr0"], "1": SET_A["pcr1"], "2": SET_A["pcr2"]}])


# --------------------------------------------------------------------------
# The real terraform.

REQUIRED = {
    "vpc_id": "vpc-0123abcd",
    "private_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
    "allowed_client_cidrs": ["10.0.0.0/16"],
    "ami_id": "ami-0123abcd",
    "eif_s3_uri": "s3://signet-images/signet.eif",
    "eif_bucket_arn": "arn:aws:s3:::signet-images",
    "enclave_pcr_sets": [SET_A],
    "tls_certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
    "kms_admin_role_arns": ["arn:aws:iam::123456789012:role/admin"],
    "admin_allowed_cidrs": ADMIN,
}
OUTPUTS = ("host_settings", "host_settings_env", "attestation_policy", "attestation_pcr_conditions", "drain_seconds", "host_stop_timeout_seconds")

if TERRAFORM is None and os.environ.get("CI") == "true":
    raise RuntimeError("terraform is not on PATH, and CI=true: the module's validations cannot be checked")
if TERRAFORM is None:
    print("\nSKIPPING the real-terraform tests: terraform is not on PATH", file=sys.stderr)


class ScratchRoot:
    """variables.tf and settings.tf of the module in a scratch root, with an
    output per computed local, initialised (no provider to download)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="signet-tf-"))
        for name in ("variables.tf", "settings.tf"):
            shutil.copy(MODULE / name, self.dir / name)
        (self.dir / "outputs.tf").write_text("".join(f'output "{o}" {{\n  value = local.{o}\n}}\n' for o in OUTPUTS))
        self.env = dict(os.environ, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE="/dev/null")
        proc = self.terraform("init", "-input=false", "-backend=false", "-no-color")
        if proc.returncode != 0:
            raise RuntimeError(f"terraform init: {proc.stdout}{proc.stderr}")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def terraform(self, *args, timeout=120):
        return subprocess.run([TERRAFORM, *args], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=timeout)

    def apply(self, **variables):
        """(exit code, {output: value}) or (exit code, the error text)."""
        values = dict(REQUIRED, **variables)
        var_file = self.dir / "case.tfvars.json"
        var_file.write_text(json.dumps(values))
        state = self.dir / "case.tfstate"
        state.unlink(missing_ok=True)
        proc = self.terraform("apply", "-auto-approve", "-input=false", "-no-color", f"-state={state}", f"-var-file={var_file}")
        if proc.returncode != 0:
            return proc.returncode, re.sub(r"\s+", " ", proc.stderr + proc.stdout)
        out = self.terraform("output", "-json", f"-state={state}")
        if out.returncode != 0:
            return out.returncode, out.stderr
        return 0, {k: v["value"] for k, v in json.loads(out.stdout).items()}


@unittest.skipIf(TERRAFORM is None, "terraform is not on PATH")
class RealTerraform(unittest.TestCase):
    """The module's validations and settings, through terraform itself."""

    @classmethod
    def setUpClass(cls):
        cls.root = ScratchRoot()
        cls.env = cls.root.env

    @classmethod
    def tearDownClass(cls):
        cls.root.close()

    def apply(self, **variables):
        return self.root.apply(**variables)

    def assertRefused(self, message, **variables):
        code, text = self.apply(**variables)
        self.assertNotEqual(code, 0, f"accepted: {variables}")
        self.assertIn(message, text, variables)

    def test_refuses_no_pcr_set(self):
        self.assertRefused("1 to 4 PCR sets", enclave_pcr_sets=[])

    def test_refuses_five_pcr_sets(self):
        five = [{"pcr0": c * 96, "pcr1": "a1" * 48, "pcr2": "a2" * 48} for c in "12345"]
        self.assertRefused("1 to 4 PCR sets", enclave_pcr_sets=five)

    def test_refuses_debug_zeros(self):
        for name in ("pcr0", "pcr1", "pcr2"):
            self.assertRefused("not all zeros", enclave_pcr_sets=[SET_B, dict(SET_A, **{name: "0" * 96})])
        self.assertRefused("pcr8 must be null", enclave_pcr_sets=[dict(SET_A, pcr8="0" * 96)])

    def test_refuses_pcrs_that_are_not_sha384_hex(self):
        for bad in ("A0" * 48, "a0" * 47, "a0" * 48 + "0", "g0" * 48):
            self.assertRefused("96 lowercase hex", enclave_pcr_sets=[dict(SET_A, pcr1=bad)])
        self.assertRefused("pcr8 must be null", enclave_pcr_sets=[dict(SET_A, pcr8="b8" * 47)])

    def test_refuses_one_image_listed_twice(self):
        self.assertRefused("two sets with the same pcr0", enclave_pcr_sets=[SET_A, dict(SET_A, pcr1="c1" * 48)])

    def test_refuses_a_set_without_pcr2(self):
        self.assertRefused('attribute "pcr2" is required', enclave_pcr_sets=[{"pcr0": SET_A["pcr0"], "pcr1": SET_A["pcr1"]}])

    def test_refuses_a_drain_shorter_than_the_deregistration_delay(self):
        self.assertRefused("drain_seconds must be at least the load balancer's deregistration delay", drain_seconds=29)
        self.assertRefused("drain_seconds must be at least", drain_seconds=60, lb_deregistration_delay_seconds=120)
        self.assertRefused("drain_seconds: null, or a whole number from 0 to 300", drain_seconds=301)
        self.assertRefused("lb_deregistration_delay_seconds: a whole number from 0 to 295", lb_deregistration_delay_seconds=296)

    def test_refuses_rate_limits_off(self):
        self.assertRefused("does not turn rate limits off", rate_limit_per_client=0)
        self.assertRefused("does not turn rate limits off", rate_limit_per_wallet_sign=0)
        self.assertRefused("rate_limit_window_ms", rate_limit_window_ms=999)
        self.assertRefused("rate_limit_challenges_per_ip", rate_limit_challenges_per_ip=0)
        self.assertRefused("rate_limit_auth_failures_per_ip", rate_limit_auth_failures_per_ip=0)

    def test_refuses_an_open_admin_network(self):
        for cidrs in ([], ["0.0.0.0/0"], ["::/0"], ["10.0.0.0/33"], ["admins"]):
            self.assertRefused("admin_allowed_cidrs: at least one valid CIDR", admin_allowed_cidrs=cidrs)

    def test_refuses_a_quorum_other_than_one_or_two(self):
        for q in (0, 3):
            self.assertRefused("operator_quorum: 1 or 2", operator_quorum=q)

    def test_refuses_backup_retention_out_of_range(self):
        for days in (0, 36, 1.5):
            self.assertRefused("backup_retention_days", backup_retention_days=days)

    def test_refuses_a_short_kms_deletion_window(self):
        for days in (7, 13, 31):
            self.assertRefused("kms_deletion_window_days: a whole number of days from 14 to 30", kms_deletion_window_days=days)

    def test_refuses_an_audit_export_url_that_is_not_plain_https(self):
        for url in ("http://siem.example.com/", "https://siem.example.com/a b", "https://siem.example.com/'x", "https://siem.example.com/$(id)"):
            self.assertRefused("audit_export_url: an https:// URL", audit_export_url=url)

    def test_accepts_and_computes_what_the_user_data_renders(self):
        cases = (
            {},
            {"enclave_pcr_sets": [SET_A, SET_B], "audit_export_url": SIEM, "lb_deregistration_delay_seconds": 100, "operator_quorum": 1},
            {"enclave_pcr_sets": [SET_B, SET_A, dict(SET_A, pcr0="c0" * 48), dict(SET_A, pcr0="d0" * 48)], "drain_seconds": 300, "kms_deletion_window_days": 14},
        )
        checker = Checker(MODULE)
        for variables in cases:
            code, outputs = self.apply(**variables)
            self.assertEqual(code, 0, outputs)
            python = Env(checker.module, {**checker.env(False).vars, **REQUIRED, **variables, "enable_rds": False})
            for name in OUTPUTS:
                self.assertEqual(outputs[name], python.local(name), f"{name} with {variables}")
            self.assertEqual(json.loads(outputs["attestation_policy"])["pcr_sets"][0]["0"], (variables.get("enclave_pcr_sets") or [SET_A])[0]["pcr0"])

    def test_the_module_is_formatted(self):
        proc = subprocess.run([TERRAFORM, "fmt", "-check", "-recursive", "-no-color", str(HERE.parent)], env=self.env, capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, f"terraform fmt would change: {proc.stdout}")


# --------------------------------------------------------------------------
# terraform/pcr_sets.py: the runbook's upgrade and rollback steps.


def pcr_sets(*args):
    return subprocess.run([sys.executable, str(PCR_SETS), *args], capture_output=True, text=True, timeout=30)


class PcrSetsTool(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        self.tfvars = self.dir / "pcrs.auto.tfvars.json"
        self.image_a = self.dir / "a.json"
        self.image_b = self.dir / "b.json"
        self.image_a.write_text(json.dumps({"enclave_pcr_sets": [SET_A]}))
        self.image_b.write_text(json.dumps({"enclave_pcr_sets": [SET_B]}))

    def tearDown(self):
        shutil.rmtree(self.dir)

    def sets(self):
        return json.loads(self.tfvars.read_text())["enclave_pcr_sets"]

    def test_upgrade_then_rollback(self):
        # First deployment: image A.
        self.assertEqual(pcr_sets("add", str(self.tfvars), str(self.image_a)).returncode, 0)
        self.assertEqual(self.sets(), [SET_A])
        # Upgrade, step 1: accept B too.
        proc = pcr_sets("add", str(self.tfvars), str(self.image_b))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.sets(), [SET_A, SET_B])
        self.assertIn(f"1: pcr0 {SET_B['pcr0']} (signed: pcr8)", proc.stdout)
        # Adding the same image again changes nothing.
        self.assertEqual(pcr_sets("add", str(self.tfvars), str(self.image_b)).returncode, 0)
        self.assertEqual(self.sets(), [SET_A, SET_B])
        # Upgrade, last step: drop A (by a prefix of its PCR0).
        proc = pcr_sets("keep", str(self.tfvars), SET_B["pcr0"][:12])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.sets(), [SET_B])
        # Rollback after A was dropped: accept A again, first.
        self.assertEqual(pcr_sets("add", str(self.tfvars), str(self.image_a)).returncode, 0)
        self.assertEqual(self.sets(), [SET_B, SET_A])
        if TERRAFORM is not None:  # and the module takes what the tool wrote
            root = ScratchRoot()
            try:
                code, outputs = root.apply(enclave_pcr_sets=self.sets())
            finally:
                root.close()
            self.assertEqual(code, 0, outputs)
            self.assertEqual([c["kms:RecipientAttestation:ImageSha384"] for c in outputs["attestation_pcr_conditions"]], [SET_B["pcr0"], SET_A["pcr0"]])

    def refused(self, *args, message):
        before = self.tfvars.read_text() if self.tfvars.exists() else None
        proc = pcr_sets(*args)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn(message, proc.stderr)
        self.assertEqual(self.tfvars.read_text() if self.tfvars.exists() else None, before, "a refused change was written")

    def test_refuses_a_fifth_set(self):
        for c in "1234":
            f = self.dir / f"{c}.json"
            f.write_text(json.dumps({"enclave_pcr_sets": [dict(SET_A, pcr0=c * 96)]}))
            self.assertEqual(pcr_sets("add", str(self.tfvars), str(f)).returncode, 0)
        self.refused("add", str(self.tfvars), str(self.image_b), message="5 sets; the module takes 1 to 4")

    def test_refuses_dropping_every_set(self):
        pcr_sets("add", str(self.tfvars), str(self.image_a))
        self.refused("keep", str(self.tfvars), "ee" * 6, message="matches 0 sets")

    def test_refuses_debug_zeros_and_another_set_for_the_same_image(self):
        zeros = self.dir / "zeros.json"
        zeros.write_text(json.dumps({"enclave_pcr_sets": [dict(SET_A, pcr2="0" * 96)]}))
        self.refused("add", str(self.tfvars), str(zeros), message="pcr2 is all zeros")
        pcr_sets("add", str(self.tfvars), str(self.image_a))
        other = self.dir / "other.json"
        other.write_text(json.dumps({"enclave_pcr_sets": [dict(SET_A, pcr1="c1" * 48)]}))
        self.refused("add", str(self.tfvars), str(other), message="listed already with other PCR values")

    def test_refuses_the_old_single_image_variables(self):
        old = self.dir / "old.json"
        old.write_text(json.dumps({"enclave_pcr0": SET_A["pcr0"], "enclave_pcr1": SET_A["pcr1"], "enclave_pcr2": SET_A["pcr2"]}))
        self.refused("add", str(self.tfvars), str(old), message="no enclave_pcr_sets")

    def test_refuses_an_ambiguous_or_short_prefix(self):
        pcr_sets("add", str(self.tfvars), str(self.image_a), str(self.image_b))
        self.refused("keep", str(self.tfvars), "a0a0", message="at least 12 lowercase hex digits")


if __name__ == "__main__":
    unittest.main()
