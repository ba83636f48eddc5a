"""The user data gives the host KMS sealing (the sealing key's ARN, the region,
credentials from the instance role only), relays the enclave to KMS and
nowhere else, and hands the enclave no secret at launch."""
import re
import unittest
from pathlib import Path

from check_database import SEALING_KEY_ARN, Checker, heredocs, unit_settings

MODULE = Path(__file__).resolve().parent.parent / "modules" / "signet"
REGION = "eu-west-1"  # check_database's known region


def rendered(enable_rds):
    checker = Checker(MODULE)
    env = checker.env(enable_rds, refs=checker.known_refs())
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


if __name__ == "__main__":
    unittest.main()
