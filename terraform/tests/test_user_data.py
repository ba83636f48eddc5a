"""The user data gives the host KMS sealing (the sealing key's ARN, the region,
credentials from the instance role only), relays the enclave to KMS and
nowhere else, and hands the enclave no secret at launch."""
import re
import unittest
from pathlib import Path

from check_database import SEALING_KEY_ARN, Checker, heredocs, unit_settings

MODULE = Path(__file__).resolve().parent.parent / "modules" / "signet"
REGION = "eu-west-1"  # check_database's known region


def rendered(enable_rds, **variables):
    checker = Checker(MODULE)
    env = checker.env(enable_rds, refs=checker.known_refs(), variables=variables)
    script, _ = checker.render(env, f"enable_rds = {enable_rds}")
    if script is None:
        raise AssertionError(checker.problems)
    return script


def host_env(script):
    """KEY=VALUE echoed into /etc/signet.env."""
    m = re.search(r"^\{\n(.*?)^\} > /etc/signet\.env$", script, re.M | re.S)
    if not m:
        raise AssertionError("no { echo ...; } > /etc/signet.env block")
    out = {}
    for line in m.group(1).splitlines():
        e = re.fullmatch(r'\s*echo "([A-Z0-9_]+)=(.*)"', line)
        if not e:
            raise AssertionError(f"unexpected line in the env block: {line!r}")
        out[e.group(1)] = e.group(2)
    return out


class UserData(unittest.TestCase):
    def test_the_host_seals_with_the_sealing_key(self):
        for enable_rds in (False, True):
            env = host_env(rendered(enable_rds))
            self.assertEqual(env["SIGNET_SEALING"], "kms")
            self.assertEqual(env["KMS_KEY_ID"], SEALING_KEY_ARN)
            self.assertEqual(env["AWS_REGION"], REGION)
            self.assertNotIn("KMS_ENDPOINT", env)  # tests only: in Nitro the vsock-proxy relays
            self.assertNotIn("KMS_CA_FILE", env)

    def test_the_template_gets_the_sealing_keys_arn(self):
        compute = (MODULE / "compute.tf").read_text()
        self.assertRegex(compute, r"\n\s*sealing_key_arn\s*=\s*aws_kms_key\.sealing\.arn\n")

    def test_no_aws_keys(self):
        script = rendered(False)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "aws configure"):
            self.assertNotIn(name, script)

    def test_the_enclave_reaches_kms_only(self):
        docs = heredocs(rendered(False))
        allow = docs["/etc/nitro_enclaves/vsock-proxy.yaml"]
        self.assertEqual(re.findall(r"address:\s*([^,}\s]+)", allow), [f"kms.{REGION}.amazonaws.com"])
        unit = dict(unit_settings(docs["/etc/systemd/system/signet-kms-proxy.service"]))
        self.assertEqual(
            unit["ExecStart"].split(),
            ["/usr/bin/vsock-proxy", "8000", f"kms.{REGION}.amazonaws.com", "443", "--config", "/etc/nitro_enclaves/vsock-proxy.yaml"],
        )

    def test_no_secret_at_enclave_launch(self):
        unit = dict(unit_settings(heredocs(rendered(False))["/etc/systemd/system/signet-enclave.service"]))
        self.assertNotIn("EnvironmentFile", unit)
        self.assertNotIn("Environment", unit)
        start = unit["ExecStart"]
        self.assertTrue(start.startswith("/usr/bin/nitro-cli run-enclave --eif-path /opt/signet/signet.eif "), start)
        for word in ("SECRET", "KEY", "signet.env"):
            self.assertNotIn(word, start)


BOT_TOKEN = "7712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
WEBHOOK = "https://signet.example.com/telegram-webhook"


def telegram_part(script):
    """The user data's Telegram block: from its comment to its closing fi."""
    m = re.search(r"^# User login through Telegram.*?^fi$", script, re.M | re.S)
    if not m:
        raise AssertionError("no Telegram block after /etc/signet.env")
    return m.group(0)


def run_telegram_part(script, secrets):
    """Runs the block with Secrets Manager replaced by `secrets` (a missing
    name fails as get-secret-value does); returns (exit code, the env lines it
    added, stderr)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        env_file = Path(d) / "signet.env"
        env_file.write_text("INTERNAL_API_KEY=x\n")
        store = "\n".join(f"{k}) printf '%s\\n' '{v}' ;;" for k, v in secrets.items())
        prelude = f"set -euo pipefail\nfetch() {{ case $1 in\n{store}\n*) echo 'ResourceNotFoundException' >&2; return 254 ;;\nesac; }}\n"
        body = telegram_part(script).replace("/etc/signet.env", str(env_file))
        r = subprocess.run(["bash", "-c", prelude + body], capture_output=True, text=True, timeout=30)
        lines = env_file.read_text().splitlines()[1:]
        return r.returncode, lines, r.stderr


class TelegramLogin(unittest.TestCase):
    def test_off_by_default(self):
        script = rendered(False)
        code, lines, _ = run_telegram_part(script, {})
        self.assertEqual((code, lines), (0, []))

    def test_polling_gets_the_token_from_secrets_manager(self):
        script = rendered(True, telegram_bot_username="SignetLoginBot")
        code, lines, err = run_telegram_part(script, {"TELEGRAM_BOT_TOKEN": BOT_TOKEN})
        self.assertEqual(code, 0, err)
        self.assertEqual(lines, [f"TELEGRAM_BOT_TOKEN={BOT_TOKEN}", "TELEGRAM_BOT_USERNAME=SignetLoginBot"])
        self.assertNotIn(BOT_TOKEN, script)

    def test_webhook_mode_adds_the_url_and_generated_secret(self):
        script = rendered(True, telegram_bot_username="SignetLoginBot", telegram_webhook_url=WEBHOOK)
        code, lines, err = run_telegram_part(
            script, {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_WEBHOOK_SECRET": "w" * 64}
        )
        self.assertEqual(code, 0, err)
        self.assertEqual(lines[2:], [f"TELEGRAM_WEBHOOK_URL={WEBHOOK}", "TELEGRAM_WEBHOOK_SECRET=" + "w" * 64])

    def test_a_missing_token_stops_the_boot_saying_where_to_put_it(self):
        script = rendered(False, telegram_bot_username="SignetLoginBot")
        code, lines, err = run_telegram_part(script, {})
        self.assertNotEqual(code, 0)
        self.assertEqual(lines, [])
        self.assertIn("signet/TELEGRAM_BOT_TOKEN", err)

    def test_the_token_secret_has_no_value_in_terraform(self):
        # The operators' tokens are secrets without a version: only the
        # generated ones get a value from Terraform.
        checker = Checker(MODULE)
        siem = "https://siem.example.com/ingest"
        for variables, want in (
            ({}, []),
            ({"telegram_bot_username": "SignetLoginBot"}, ["TELEGRAM_BOT_TOKEN"]),
            ({"audit_export_url": siem}, ["AUDIT_EXPORT_TOKEN"]),
            ({"audit_export_url": siem, "audit_export_token": False}, []),
            ({"telegram_bot_username": "SignetLoginBot", "audit_export_url": siem}, ["TELEGRAM_BOT_TOKEN", "AUDIT_EXPORT_TOKEN"]),
        ):
            env = checker.env(False, variables=variables)
            self.assertEqual(env.local("operator_secrets"), want, variables)
            self.assertEqual(set(want) & set(env.local("generated_secrets")), set(), variables)
            self.assertEqual(set(want) - set(env.local("secret_names")), set(), variables)
        secrets = (MODULE / "secrets.tf").read_text()
        self.assertRegex(secrets, r'resource "aws_secretsmanager_secret_version" "signet" \{\n\s*for_each\s*=\s*toset\(local\.generated_secrets\)')


if __name__ == "__main__":
    unittest.main()
