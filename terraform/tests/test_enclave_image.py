"""The enclave image's signer and the host's user data agree on the vsock
ports. The image itself (eif/build.sh, signet-init, the pinned command
line) is tested by the eif crate's tests and scripts/test-eif.sh."""
import re
import unittest
from pathlib import Path

from check_database import heredocs, unit_settings
from test_user_data import host_env, rendered

ROOT = Path(__file__).resolve().parents[2]
# signet-init's fixed arguments for the signer (eif/init/src/config.rs,
# SIGNER_FIXED_ARGS), which the image's PID 1 starts.
INIT_CONFIG = ROOT / "eif" / "init" / "src" / "config.rs"


def signer_fixed_args():
    text = INIT_CONFIG.read_text()
    block = text.split("pub const SIGNER_FIXED_ARGS: &[&str] = &[", 1)[1].split("];", 1)[0]
    return re.findall(r'"([^"]*)"', block)


ENTRYPOINT = signer_fixed_args()


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
