#!/usr/bin/env bash
# Runs Signet the embedded way: builds the signer, host and CLI (release), then
# starts `signet-host dev` with a supervised signer, SQLite and an admin token
# under ./signet-data of the repository (or --data-dir DIR: a relative DIR is
# taken from the directory you run this from). Extra arguments go to
# `signet-host dev`. The first build takes several minutes.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
cargo build --release --locked -p signet-enclave -p signet-host -p signet-cli -p signet-kms-fake
args=()
data_dir=
while (($#)); do
  case $1 in
    --data-dir)
      (($# >= 2)) || { echo "dev.sh: --data-dir needs a directory" >&2; exit 2; }
      data_dir=$2
      shift 2
      ;;
    --data-dir=*)
      data_dir=${1#--data-dir=}
      shift
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done
if [ -z "$data_dir" ]; then
  data_dir=./signet-data
elif [ "${data_dir#/}" = "$data_dir" ]; then
  data_dir=$caller/$data_dir   # relative to where the script was run from
fi
exec target/release/signet-host dev --data-dir "$data_dir" ${args[@]+"${args[@]}"}
