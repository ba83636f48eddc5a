#!/usr/bin/env bash
# Times `signet-host admin backup` and `admin restore --verify` on a database of
# 10,000 wallets and over 100,000 audit events (issue 26; BENCHMARKS.md):
# a `signet-host dev` is filled by signet-bench (10,000 wallets, then signing for
# SIGN_S seconds), backed up while it serves, and restored into an empty
# database with its own signer verifying every sealed wallet.
# Usage: scripts/bench-backup.sh sqlite|postgres   (after cargo build --release)
set -u
kind=$1; B=${SIGNET_BIN:-target/release}; D=$(mktemp -d)
export INTERNAL_API_KEY=$(openssl rand -hex 32) TICKET_SIGNING_SECRET=$(openssl rand -hex 32) SESSION_SIGNING_SECRET=$(openssl rand -hex 32)
PG=postgres://postgres@127.0.0.1:5432
if [ $kind = postgres ]; then
  psql $PG/postgres -qc "DROP DATABASE IF EXISTS bk_src WITH (FORCE)" -c "DROP DATABASE IF EXISTS bk_dst WITH (FORCE)" -c "CREATE DATABASE bk_src" -c "CREATE DATABASE bk_dst"
  SRC=$PG/bk_src; DST=$PG/bk_dst
else
  SRC=sqlite://$D/data/signet.db; DST=sqlite://$D/restored.db
fi
SIGNET_DATABASE_URL=$SRC RATE_LIMIT_PER_USER=0 RATE_LIMIT_PER_IDENTITY_SIGN=0 SIGNET_LOG=warn $B/signet-host dev --listen 127.0.0.1:0 --data-dir $D/data > $D/dev.out 2>&1 &
DEV=$!
for i in $(seq 50); do [ -s $D/data/url ] && break; sleep 0.2; done
URL=$(cat $D/data/url); TOKEN=$(cat $D/data/admin-token)
$B/signet-bench --url "$URL" --token "$TOKEN" --wallets 10000 --scenarios sign --duration "${SIGN_S:-9}" --json | jq -r '"filled: \(.ops_per_s | floor) signatures/s, errors \(.errors)"'
s=$(date +%s.%N); SIGNET_DATABASE_URL=$SRC $B/signet-host admin backup --out $D/b.backup; e=$(date +%s.%N)
echo "backup_s $(echo "$e - $s" | bc)"; ls -la "$D/b.backup"
s=$(date +%s.%N); SIGNET_DATABASE_URL=$DST ENCLAVE_ADDR=unix:$D/data/signer.sock ATTESTATION_POLICY=$D/data/attestation-policy.json SIGNET_LOG=warn $B/signet-host admin restore --from $D/b.backup --verify; rc=$?; e=$(date +%s.%N)
echo "restore_verify_s $(echo "$e - $s" | bc) rc=$rc"
kill $DEV; wait $DEV 2>/dev/null
rm -rf "$D"
