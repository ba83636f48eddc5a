#!/usr/bin/env bash
# Builds the Signet enclave image (EIF) and writes its PCRs.
#
#   eif/build.sh --kms-key-arn ARN --region REGION --deployment NAME [OUT_DIR]
#
# ARN, REGION and NAME are pinned into the image (its environment, measured
# into PCR0 and PCR2): the sealing key's ARN (`terraform output -raw
# sealing_key_arn`), its region, and the Terraform module's `name`. OUT_DIR
# defaults to eif/out.
#
# Needs Docker and nitro-cli (on an EC2 instance with Nitro Enclaves, or any
# Linux host with aws-nitro-enclaves-cli installed). The nitro-cli version is
# pinned because it changes the boot ramdisk and kernel, hence PCR0/PCR1.
# Outputs: OUT_DIR/signet.eif, OUT_DIR/nitro-cli.json (nitro-cli's own report),
# OUT_DIR/pcrs.json, OUT_DIR/attestation-policy.json and OUT_DIR/pcrs.auto.tfvars.json
# (both from signet-eif, which re-measures the EIF with AWS's image-format crate
# and must agree with nitro-cli), and OUT_DIR/pinned.json (the three values
# above: with the commit, what reproduces these PCRs).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  local code=${1:-2} text
  text=$(cat <<'USAGE'
usage: eif/build.sh --kms-key-arn ARN --region REGION --deployment NAME [OUT_DIR]

  --kms-key-arn ARN   the sealing key: arn:aws:kms:REGION:ACCOUNT:key/ID
                      (terraform output -raw sealing_key_arn; not an alias)
  --region REGION     the key's region (e.g. eu-west-1)
  --deployment NAME   the Terraform module's `name` (e.g. signet)
  OUT_DIR             where the image and its PCRs go (default: eif/out)

The three values are pinned into the image and change its PCRs.
USAGE
  )
  if [ "$code" = 0 ]; then echo "$text"; else echo "$text" >&2; fi
  exit "$code"
}

kms_key_arn="" region="" deployment="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kms-key-arn | --region | --deployment)
      [ $# -ge 2 ] || { echo "eif/build.sh: $1 needs a value" >&2; usage; }
      case "$1" in
        --kms-key-arn) kms_key_arn=$2 ;;
        --region) region=$2 ;;
        --deployment) deployment=$2 ;;
      esac
      shift 2
      ;;
    --kms-key-arn=*) kms_key_arn=${1#*=}; shift ;;
    --region=*) region=${1#*=}; shift ;;
    --deployment=*) deployment=${1#*=}; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "eif/build.sh: unknown option $1" >&2; usage ;;
    *)
      [ -z "$out" ] || { echo "eif/build.sh: one OUT_DIR only" >&2; usage; }
      out=$1
      shift
      ;;
  esac
done
# The same checks as the Dockerfile's, early and with this script's names.
if [ -z "$kms_key_arn" ] || [ -z "$region" ] || [ -z "$deployment" ]; then
  echo "eif/build.sh: --kms-key-arn, --region and --deployment are required" >&2
  usage
fi
if ! [[ $kms_key_arn =~ ^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$ ]]; then
  echo "eif/build.sh: --kms-key-arn $kms_key_arn is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; an alias is not pinned)" >&2
  exit 2
fi
if ! [[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
  echo "eif/build.sh: --region $region is not a region name" >&2
  exit 2
fi
if [[ $kms_key_arn != *":kms:$region:"* ]]; then
  echo "eif/build.sh: the key $kms_key_arn is not in --region $region" >&2
  exit 2
fi
if ! [[ $deployment =~ ^[a-z][a-z0-9-]{1,30}$ ]]; then
  echo "eif/build.sh: --deployment $deployment is not a Terraform module name (2-31 of a-z, 0-9, -)" >&2
  exit 2
fi
out="${out:-eif/out}"

NITRO_CLI_VERSION="1.4.2"
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
docker build --file eif/Dockerfile \
  --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
  --build-arg KMS_KEY_ARN="$kms_key_arn" \
  --build-arg KMS_REGION="$region" \
  --build-arg DEPLOYMENT="$deployment" \
  --tag "$tag" .
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
python3 - "$out/pinned.json" "$kms_key_arn" "$region" "$deployment" "$(git rev-parse HEAD)" "$SOURCE_DATE_EPOCH" <<'PY'
import json, sys
path, arn, region, deployment, commit, epoch = sys.argv[1:]
with open(path, "w") as f:
    json.dump({"kms_key_arn": arn, "kms_region": region, "deployment": deployment, "commit": commit, "source_date_epoch": int(epoch)}, f, indent=2)
    f.write("\n")
PY
echo "wrote $out/signet.eif, pcrs.json, attestation-policy.json, pcrs.auto.tfvars.json, pinned.json"
echo "pinned: KMS key $kms_key_arn ($region), deployment $deployment"
