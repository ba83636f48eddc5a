#!/usr/bin/env bash
# Runs a cargo-fuzz target for a while, seeded with the real attestation
# documents. Works on the stable toolchain (RUSTC_BOOTSTRAP lets cargo-fuzz use
# the sanitizer flags). Usage: scripts/fuzz.sh [TARGET] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-attestation_doc}
seconds=${2:-60}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked || cargo install cargo-fuzz
corpus=fuzz/corpus/$target
mkdir -p "$corpus"
if [ "$target" = attestation_doc ]; then
  cp -n attestation/testdata/vectors/*.bin "$corpus"/ 2>/dev/null || true
fi
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$corpus" -- -max_total_time="$seconds" -max_len=20000
