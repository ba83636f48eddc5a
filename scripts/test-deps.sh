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
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)    # the replica tests' databases
command -v promtool >/dev/null 2>&1 || need+=(prometheus)        # alert rule checks (promtool)
command -v jq >/dev/null 2>&1 || need+=(jq)                      # the README's quick start, run as written
command -v git >/dev/null 2>&1 || need+=(git)                    # …from a checkout of the tracked files
command -v cpio >/dev/null 2>&1 || need+=(cpio)                  # reads back the enclave image's ramdisks (eif/tests)
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

# PostgreSQL for the store's and the replicas' tests: the server on
# 127.0.0.1:5432 (SIGNET_TEST_POSTGRES_URL overrides it). Started if it is
# installed but down, installed (Debian's package) if absent. Each test makes
# its own database `signet_t_*`; those of earlier runs are dropped here.
SIGNET_TEST_POSTGRES_URL=${SIGNET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
signet_pg_up() { psql "$SIGNET_TEST_POSTGRES_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; }
signet_pg_start() {
  local v
  for v in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true
  done
}
if ! signet_pg_up; then
  echo "PostgreSQL is not answering at ${SIGNET_TEST_POSTGRES_URL%%\?*}; starting it"
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then signet_apt postgresql; fi
  signet_pg_start
  for _ in $(seq 1 30); do signet_pg_up && break; sleep 1; done
fi
if ! signet_pg_up && [ "$(id -u)" -eq 0 ] && [ "$SIGNET_TEST_POSTGRES_URL" = postgres://postgres@127.0.0.1:5432/postgres ]; then
  # A server installed with Debian's defaults asks for a password over TCP:
  # give the postgres role a test password (peer auth over the socket).
  su postgres -c "psql -q -c \"ALTER ROLE postgres PASSWORD 'signet-test'\"" >/dev/null
  SIGNET_TEST_POSTGRES_URL=postgres://postgres:signet-test@127.0.0.1:5432/postgres
fi
signet_pg_up || { echo "PostgreSQL at $SIGNET_TEST_POSTGRES_URL is unreachable" >&2; exit 1; }
for db in $(psql "$SIGNET_TEST_POSTGRES_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'signet_t_%'"); do
  psql "$SIGNET_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
done
export SIGNET_TEST_POSTGRES_URL SIGNET_REQUIRE_POSTGRES=1
echo "test prerequisites present: $(cargo --version); $(cc --version | head -n1); $("$SIGNET_PYTHON" -c 'import cryptography, sys; print("python", sys.version.split()[0], "cryptography", cryptography.__version__)'); SoftHSM $(softhsm2-util --version); $(psql "$SIGNET_TEST_POSTGRES_URL" -Atqc 'SHOW server_version' | sed 's/^/PostgreSQL /') (each test makes a fresh database)"
