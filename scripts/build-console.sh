#!/usr/bin/env bash
# Builds the console's in-browser verifier: the signet-verify crate
# (signet-attestation and the audit chain) for wasm32-unknown-unknown, then
# wasm-bindgen's `--target web` glue, into host/console/wasm/ (embedded in
# signet-host at its next build). Installs what it needs, idempotently: the
# wasm32 target (rustup) and wasm-bindgen-cli at exactly the version of the
# wasm-bindgen crate in Cargo.lock (cargo install --locked).
# The output is committed, so a plain `cargo build` of the host works on a
# fresh clone; scripts/test.sh rebuilds it first, so the tests run what the
# sources build.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
[ -n "$version" ] || { echo "no wasm-bindgen in Cargo.lock" >&2; exit 1; }
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "installing the Rust target wasm32-unknown-unknown (rustup)"
  rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version (cargo install --locked)"
  # --locked first; its lock can name a release the registry no longer serves.
  cargo install --quiet --locked wasm-bindgen-cli --version "$version" ||
    cargo install --quiet wasm-bindgen-cli --version "$version"
fi

target=${CARGO_TARGET_DIR:-target}
# Paths inside the module (panic locations) name the crate, not this machine.
RUSTFLAGS="--remap-path-prefix=$PWD=signet --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=cargo" \
  cargo build --quiet --locked -p signet-verify --lib --release --target wasm32-unknown-unknown
out=host/console/wasm
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name signet_verify \
  "$target/wasm32-unknown-unknown/release/signet_verify.wasm"
echo "console verifier: $out/signet_verify_bg.wasm ($(wc -c <"$out/signet_verify_bg.wasm") bytes), wasm-bindgen $version"
