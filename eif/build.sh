#!/usr/bin/env bash
# Builds the Signet enclave image (EIF) and writes its PCRs.
#
#   eif/build.sh [OUT_DIR]     (default: eif/out)
#
# Needs Docker and nitro-cli (on an EC2 instance with Nitro Enclaves, or any
# Linux host with aws-nitro-enclaves-cli installed). The nitro-cli version is
# pinned because it changes the boot ramdisk and kernel, hence PCR0/PCR1.
# Outputs: OUT_DIR/signet.eif, OUT_DIR/nitro-cli.json (nitro-cli's own report),
# OUT_DIR/pcrs.json, OUT_DIR/attestation-policy.json and OUT_DIR/pcrs.auto.tfvars.json
# (both from signet-eif, which re-measures the EIF with AWS's image-format crate
# and must agree with nitro-cli).
set -euo pipefail
cd "$(dirname "$0")/.."

NITRO_CLI_VERSION="1.4.2"
out="${1:-eif/out}"
mkdir -p "$out"

command -v docker >/dev/null || { echo "docker is required" >&2; exit 1; }
command -v nitro-cli >/dev/null || { echo "nitro-cli is required (aws-nitro-enclaves-cli $NITRO_CLI_VERSION)" >&2; exit 1; }
have="$(nitro-cli --version | awk '{print $NF}')"
if [ "$have" != "$NITRO_CLI_VERSION" ]; then
  echo "nitro-cli $have found, $NITRO_CLI_VERSION pinned: PCRs would differ from a reference build" >&2
  exit 1
fi

# The commit time makes the build reproducible from the same commit.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"
tag="signet-enclave:$(git rev-parse --short=12 HEAD)"
docker build --file eif/Dockerfile --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" --tag "$tag" .
nitro-cli build-enclave --docker-uri "$tag" --output-file "$out/signet.eif" > "$out/nitro-cli.json"

cargo build --release --locked -p signet-eif
eif=target/release/signet-eif
"$eif" pcrs "$out/signet.eif" > "$out/pcrs.json"
"$eif" policy "$out/signet.eif" > "$out/attestation-policy.json"
"$eif" tfvars "$out/signet.eif" > "$out/pcrs.auto.tfvars.json"

# nitro-cli and signet-eif must agree on the measurements.
python3 - "$out/nitro-cli.json" "$out/pcrs.json" <<'PY'
import json, sys
nitro = json.load(open(sys.argv[1]))["Measurements"]
ours = json.load(open(sys.argv[2]))
for k in ("PCR0", "PCR1", "PCR2"):
    if nitro[k].lower() != ours[k]:
        sys.exit(f"{k} differs: nitro-cli {nitro[k]} vs signet-eif {ours[k]}")
print("nitro-cli and signet-eif agree:", ", ".join(f"{k}={ours[k][:16]}…" for k in ("PCR0", "PCR1", "PCR2")))
PY
echo "wrote $out/signet.eif, pcrs.json, attestation-policy.json, pcrs.auto.tfvars.json"
