#!/usr/bin/env bash
# Runs every Signet check and test: formatting, clippy (warnings are errors),
# the fuzz targets' build, and the whole test suite. Installs or starts what
# the tests need first (idempotent), so a fresh machine needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "test prerequisites"
# shellcheck source=scripts/test-deps.sh
source scripts/test-deps.sh
# anvil, cast, ethers, viem and web3.py for the Ethereum tests (host/tests/eth.rs).
# shellcheck source=scripts/eth-deps.sh
source scripts/eth-deps.sh
# Chromium and playwright-core for the console's browser walk (host/tests/console.rs).
# shellcheck source=scripts/console-deps.sh
source scripts/console-deps.sh

step "the console's WebAssembly verifier (signet-verify → host/console/wasm)"
scripts/build-console.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "fuzz targets build (run them with scripts/fuzz.sh)"
cargo build -p signet-fuzz --locked

step "deployment checks (HCL, checkov, KMS attestation policy)"
scripts/test-infra.sh

step "dependency vulnerabilities (cargo-audit against the offline RustSec snapshot)"
scripts/test-advisories.sh

step "operations checks (Prometheus alert rules: promtool check + rule tests)"
scripts/test-ops.sh

step "API fuzzing against /openapi.json (schemathesis: no 5xx, every response conforms)"
scripts/fuzz-api.sh

step "cargo test (workspace, all features)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Doc tests first, then every unit and integration test; the log is summed so
# the last line says how many tests ran in all.
cargo test --workspace --exclude signet-fuzz --all-features --locked --doc 2>&1 | tee "$log"
cargo test --workspace --exclude signet-fuzz --all-features --locked --lib --bins --tests 2>&1 | tee -a "$log"

step "the enclave image: two cold builds byte-identical, PCRs checked twice, booted under QEMU"
# After the test suite: it reuses the signet-eif that the suite built.
scripts/test-eif.sh

awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\nsignet: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
