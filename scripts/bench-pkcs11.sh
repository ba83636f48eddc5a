#!/usr/bin/env bash
# End-to-end signing through signet-host on a throwaway SoftHSM2 token, beside
# raw C_Sign on the same token in the same run. Extra arguments go to signet-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v softhsm2-util >/dev/null || { echo "install softhsm2 (scripts/test-deps.sh does)" >&2; exit 1; }
cargo build --release --locked -p signet-enclave -p signet-host -p signet-bench
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" > "$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf" PKCS11_PIN=246813579
softhsm2-util --init-token --free --label signet-bench --pin "$PKCS11_PIN" --so-pin 975318642 >/dev/null
module=/usr/lib/softhsm/libsofthsm2.so
exec target/release/signet-bench --scenarios sign --pkcs11-module "$module" --pkcs11-token-label signet-bench "$@"
