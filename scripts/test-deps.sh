#!/usr/bin/env bash
# Installs what the test suite needs beyond a Rust toolchain, idempotently:
# checks first, installs only what is missing, and says what it did.
# Sourced by scripts/test.sh: it exports SIGNET_PYTHON (an interpreter with
# pyca/cryptography, the independent signature checker).
set -euo pipefail

signet_apt() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: $* — install them (apt-get install $*) and rerun" >&2
    return 1
  fi
  echo "installing system packages: $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v c++ >/dev/null 2>&1 || need+=(g++)        # libFuzzer, for the fuzz target build
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
command -v curl >/dev/null 2>&1 || need+=(curl)         # TLS checks in the host tests
command -v openssl >/dev/null 2>&1 || need+=(openssl)   # test certificates
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)   # the PKCS#11 backend's tests
if ((${#need[@]})); then signet_apt "${need[@]}"; fi

for tool in cargo rustfmt cargo-clippy; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing Rust tool: $tool (rustup component add rustfmt clippy)" >&2; exit 1; }
done

# The independent signature checker: pyca/cryptography (OpenSSL). Use the
# system interpreter if it already has it, else a private virtualenv.
SIGNET_PYTHON=python3
if ! python3 -c 'import cryptography' >/dev/null 2>&1; then
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/signet/pyenv"
  if ! "$venv/bin/python" -c 'import cryptography' >/dev/null 2>&1; then
    echo "installing pyca/cryptography into $venv"
    python3 -m venv "$venv" || { signet_apt python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q --disable-pip-version-check cryptography
  fi
  SIGNET_PYTHON="$venv/bin/python"
fi
export SIGNET_PYTHON
# The PKCS#11 tests skip (loudly) where SoftHSM2 is missing; here it was just
# installed, so they must run.
export SIGNET_REQUIRE_SOFTHSM=1
echo "test prerequisites present: $(cargo --version); $(cc --version | head -n1); $("$SIGNET_PYTHON" -c 'import cryptography, sys; print("python", sys.version.split()[0], "cryptography", cryptography.__version__)'); SoftHSM $(softhsm2-util --version)"
