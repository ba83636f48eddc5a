#!/usr/bin/env bash
# Checks the deployment code: every .tf parses (python-hcl2), checkov passes
# (each skipped check is justified inline), the KMS policy test proves the
# sealing key cannot decrypt without Nitro attestation and this deployment's
# encryption context, and that retired sealing-key versions are denied to
# everyone (on the policy JSON rendered by terraform/tests/render_kms_policy.py,
# whose own tests show it renders what the AWS provider would and refuses what
# it does not understand), and the database test proves the hosts get
# PostgreSQL over verified TLS with the RDS-managed password (never in plain
# text) or SQLite on one host with its data on a volume that survives instance
# replacement (all fail on broken modules). The user data and enclave image
# tests check the host's KMS sealing settings, the KMS-only vsock-proxy, no
# secret at enclave launch, and that the image's signer (signet-init's fixed
# arguments) and the user data agree on the vsock ports. The settings test checks
# the hosts' production settings (rate limits, /metrics behind a token, the
# admin network, the operator quorum, the drain, backups, the audit export),
# prevent_destroy on the keys and the database, the PCR sets, and runs the
# module's validations through the real `terraform` (no provider, no AWS;
# required with CI=true, else skipped loudly), and terraform/pcr_sets.py.
# Installs its tools into a private virtualenv, idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${XDG_CACHE_HOME:-$HOME/.cache}/signet/infra-venv"
if ! "$venv/bin/python" -c 'import hcl2' >/dev/null 2>&1 || ! [ -x "$venv/bin/checkov" ]; then
  echo "installing checkov and python-hcl2 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check checkov python-hcl2
fi
echo "checkov $("$venv/bin/checkov" --version)"
if command -v terraform >/dev/null 2>&1; then
  echo "$(terraform version 2>/dev/null | head -n1)"
elif [ "${CI:-}" = true ]; then
  echo "terraform is not on PATH: the module's validations cannot be checked (CI=true)" >&2
  exit 1
else
  echo "WARNING: terraform is not on PATH: the real-terraform tests are SKIPPED" >&2
fi
(cd terraform/tests && "$venv/bin/python" -m unittest -v test_render_kms_policy test_kms_policy test_database test_user_data test_enclave_image test_settings)
"$venv/bin/python" terraform/tests/check_kms_policy.py terraform/modules/signet
"$venv/bin/python" terraform/tests/check_database.py terraform/modules/signet terraform/examples/single-region
"$venv/bin/checkov" -d terraform --framework terraform --quiet --compact --skip-download
