#!/usr/bin/env bash
# Installs what the test suite needs beyond a Rust toolchain. Idempotent:
# checks first, installs only what is missing, and says what it did.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)   # libFuzzer (fuzz target build)

if ((${#need_apt[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${need_apt[*]} — install them (apt-get install ${need_apt[*]}) and rerun" >&2
    exit 1
  fi
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
for tool in cargo rustfmt cargo-clippy; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing Rust tool: $tool (rustup component add rustfmt clippy)" >&2; exit 1; }
done
echo "test prerequisites present: $(cargo --version), $(cc --version | head -n1)"
