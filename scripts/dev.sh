#!/usr/bin/env bash
# Runs Signet the embedded way: builds the signer, host and CLI (release), then
# starts `signet-host dev` with a supervised signer, SQLite and an admin token
# under ./signet-data (or --data-dir DIR). Extra arguments go to `signet-host dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p signet-enclave -p signet-host -p signet-cli -p signet-kms-fake
args=("$@")
case " ${args[*]-} " in
  *" --data-dir "*) ;;
  *) args+=(--data-dir ./signet-data) ;;
esac
exec target/release/signet-host dev "${args[@]}"
