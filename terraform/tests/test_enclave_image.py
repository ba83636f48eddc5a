"""The enclave image pins its KMS key, region and deployment (required build
arguments, the image's environment), runs the signer with KMS sealing and
host-provisioned secrets, and agrees with the user data on the vsock ports.
Docker and nitro-cli do not run here: the Dockerfile's argument check is run
with sh, and eif/build.sh only as far as its option handling."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from check_database import heredocs, unit_settings
from test_user_data import host_env, rendered

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "eif" / "Dockerfile"
BUILD = ROOT / "eif" / "build.sh"

ARN = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
ENTRYPOINT = [
    "/signet-enclave",
    "--listen", "vsock://5000",
    "--attestation", "nsm",
    "--backend", "software",
    "--sealing", "kms",
    "--secrets", "host",
    "--kms-proxy", "vsock://3:8000",
]  # fmt: skip


def stages():
    """[(FROM line, [instructions])] with continuation lines joined as Docker does."""
    out = []
    lines = DOCKERFILE.read_text().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("FROM "):
            out.append((line, []))
        else:
            out[-1][1].append(line)
    return out


def argument_check():
    """The build stage's RUN that checks the build arguments."""
    build = stages()[0][1]
    runs = [x for x in build if x.startswith("RUN ") and "KMS_KEY_ARN" in x]
    assert len(runs) == 1, runs
    return runs[0][len("RUN ") :]


def run_check(**args):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KMS_KEY_ARN": "", "KMS_REGION": "", "DEPLOYMENT": ""}
    env.update(args)
    return subprocess.run(["sh", "-c", argument_check()], env=env, capture_output=True, text=True)


class Dockerfile(unittest.TestCase):
    def test_one_entrypoint_in_exec_form(self):
        lines = [ln for ln in DOCKERFILE.read_text().split("\n") if ln.startswith("ENTRYPOINT")]
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(json.loads(lines[0][len("ENTRYPOINT ") :]), ENTRYPOINT)

    def test_one_env_line_pins_the_configuration(self):
        lines = [ln for ln in DOCKERFILE.read_text().split("\n") if ln.startswith("ENV SIGNET_KMS_KEY_ID=")]
        self.assertEqual(lines, ["ENV SIGNET_KMS_KEY_ID=${KMS_KEY_ARN} SIGNET_KMS_REGION=${KMS_REGION} SIGNET_DEPLOYMENT=${DEPLOYMENT}"])
        final = stages()[-1]
        self.assertEqual(final[0], "FROM scratch")
        instructions = final[1]
        env_at = instructions.index(lines[0])
        for arg in ("KMS_KEY_ARN", "KMS_REGION", "DEPLOYMENT"):
            self.assertLess(instructions.index(f"ARG {arg}"), env_at, f"ARG {arg} must be declared in the final stage before ENV")
        # Nothing else is passed to the signer through the image's environment.
        self.assertEqual([x for x in instructions if x.startswith("ENV ")], [lines[0]])

    def test_the_build_fails_without_its_arguments(self):
        self.assertEqual(run_check(KMS_KEY_ARN=ARN, KMS_REGION="eu-west-1", DEPLOYMENT="signet").returncode, 0)
        for args, why in (
            ({}, "KMS_KEY_ARN"),
            ({"KMS_REGION": "eu-west-1", "DEPLOYMENT": "signet"}, "KMS_KEY_ARN"),
            ({"KMS_KEY_ARN": ARN, "DEPLOYMENT": "signet"}, "KMS_REGION"),
            ({"KMS_KEY_ARN": ARN, "KMS_REGION": "eu-west-1"}, "DEPLOYMENT"),
            ({"KMS_KEY_ARN": ARN.replace("key/0a1b2c3d-4e5f-6789-abcd-ef0123456789", "alias/signet-sealing"), "KMS_REGION": "eu-west-1", "DEPLOYMENT": "signet"}, "not an alias"),
            ({"KMS_KEY_ARN": ARN, "KMS_REGION": "us-east-1", "DEPLOYMENT": "signet"}, "not in KMS_REGION"),
            ({"KMS_KEY_ARN": ARN, "KMS_REGION": "eu-west-1", "DEPLOYMENT": "Signet Prod"}, "DEPLOYMENT"),
        ):
            proc = run_check(**args)
            self.assertNotEqual(proc.returncode, 0, args)
            self.assertIn(why, proc.stderr, args)

    def test_the_check_runs_after_the_compilation(self):
        build = stages()[0][1]
        cargo = next(i for i, x in enumerate(build) if "cargo build" in x)
        self.assertLess(cargo, build.index("ARG KMS_KEY_ARN"), "the build arguments would invalidate the cached compilation")


class BuildScript(unittest.TestCase):
    def run_build(self, *args):
        with tempfile.TemporaryDirectory() as tmp:
            fake = Path(tmp) / "bin"
            fake.mkdir()
            # A docker that must not be reached, a nitro-cli of another version.
            (fake / "docker").write_text("#!/bin/sh\necho fake docker must not run >&2\nexit 97\n")
            (fake / "nitro-cli").write_text("#!/bin/sh\necho 'Nitro CLI 0.0.0'\n")
            for f in fake.iterdir():
                f.chmod(0o755)
            env = dict(os.environ, PATH=f"{fake}:{os.environ.get('PATH', '/usr/bin:/bin')}")
            args = [a.replace("OUT", str(Path(tmp) / "out")) for a in args]
            return subprocess.run(["bash", str(BUILD), *args], env=env, capture_output=True, text=True)

    def test_usage(self):
        proc = self.run_build("--help")
        self.assertEqual(proc.returncode, 0)
        self.assertIn("usage: eif/build.sh --kms-key-arn ARN --region REGION --deployment NAME [OUT_DIR]", proc.stdout)
        proc = self.run_build()
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--kms-key-arn, --region and --deployment are required", proc.stderr)
        self.assertIn("usage:", proc.stderr)
        proc = self.run_build("--kms-key-arn", ARN, "--region", "eu-west-1", "--deployment", "signet", "--debug-mode")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown option --debug-mode", proc.stderr)

    def test_bad_values(self):
        for args, why in (
            (["--kms-key-arn", "alias/signet-sealing", "--region", "eu-west-1", "--deployment", "signet"], "not a KMS key ARN"),
            (["--kms-key-arn", ARN, "--region", "us-east-1", "--deployment", "signet"], "not in --region us-east-1"),
            (["--kms-key-arn", ARN, "--region", "eu-west-1", "--deployment", "x"], "not a Terraform module name"),
            (["--kms-key-arn", ARN, "--region", "eu-west-1", "--deployment"], "--deployment needs a value"),
        ):
            proc = self.run_build(*args)
            self.assertEqual(proc.returncode, 2, (args, proc.stderr))
            self.assertIn(why, proc.stderr)

    def test_good_values_reach_the_tools(self):
        for args in (
            ["--kms-key-arn", ARN, "--region", "eu-west-1", "--deployment", "signet", "OUT"],
            [f"--kms-key-arn={ARN}", "--region=eu-west-1", "--deployment=signet", "OUT"],
        ):
            proc = self.run_build(*args)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn("nitro-cli 0.0.0 found", proc.stderr)  # past the options, stopped before docker

    def test_passes_the_build_arguments(self):
        text = BUILD.read_text()
        for arg, var in (("KMS_KEY_ARN", "kms_key_arn"), ("KMS_REGION", "region"), ("DEPLOYMENT", "deployment")):
            self.assertIn(f'--build-arg {arg}="${var}"', text)


class WithTheHost(unittest.TestCase):
    def test_ports_agree(self):
        script = rendered(False)
        docs = heredocs(script)
        proxy = dict(unit_settings(docs["/etc/systemd/system/signet-kms-proxy.service"]))["ExecStart"].split()
        listen = ENTRYPOINT[ENTRYPOINT.index("--listen") + 1]
        kms_proxy = ENTRYPOINT[ENTRYPOINT.index("--kms-proxy") + 1]
        self.assertEqual(kms_proxy, f"vsock://3:{proxy[1]}")  # the parent is CID 3
        enclave = dict(unit_settings(docs["/etc/systemd/system/signet-enclave.service"]))["ExecStart"]
        cid = re.search(r"--enclave-cid (\d+)", enclave).group(1)
        port = listen.removeprefix("vsock://")  # the enclave listens on a port of its own CID
        self.assertEqual(host_env(script)["ENCLAVE_ADDR"], f"vsock://{cid}:{port}")


if __name__ == "__main__":
    unittest.main()
