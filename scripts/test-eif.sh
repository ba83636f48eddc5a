#!/usr/bin/env bash
# The enclave image, end to end, as CI runs it:
#  1. reproducible: two clones of HEAD in different directories (paths of
#     different lengths, and a different CARGO_HOME path for the second)
#     each run eif/build.sh from cold; their signet.eif and signet.pcrs.json
#     must be byte-identical;
#  2. checked twice: eif/tests/eif_pcrs.py, written from the EIF
#     specification independently of signet-eif, recomputes the PCRs of the
#     image and must agree with signet-eif's;
#  3. verified: eif/build.sh --verify rebuilds over the first clone's output
#     (warm) and compares with the second clone's signet.pcrs.json;
#  4. booted: scripts/test-image.sh boots the image under QEMU.
#
#   scripts/test-eif.sh [WORKDIR]    (default: a fresh temporary directory)
#
# What is built is HEAD (commit first): an auditor's checkout, not the
# working tree. Prints the two hashes, the PCRs and the times.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
work="${1:-$(mktemp -d /tmp/signet-eif-test.XXXXXX)}"
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
ARN=arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789
args=(--kms-key-arn "$ARN" --region eu-west-1 --deployment signet-test)

step() { printf '\n==> test-eif: %s\n' "$*"; }
clone() {
  rm -rf "$1"
  git clone -q --no-hardlinks "$repo" "$1"
  git -C "$1" checkout -q "$(git -C "$repo" rev-parse HEAD)"
}

a="$work/a"
b="$work/second-checkout/with/a/longer/path/b"
clone "$a"
clone "$b"
# The second build's cargo home is at another path (the registry is shared
# through a link, so nothing is downloaded twice): paths must not leak.
cargo_home=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
mkdir -p "$work/other-cargo-home"
for entry in registry git bin config.toml config credentials.toml; do
  [ -e "$cargo_home/$entry" ] && ln -sfn "$cargo_home/$entry" "$work/other-cargo-home/$entry"
done
# The kernel package is downloaded once (both builds check its SHA-256).
export SIGNET_EIF_CACHE="$work/cache"
# signet-eif, the host tool that writes the ramdisks and packs the image
# (it is not in the image), is the one this checkout built (scripts/test.sh
# runs this after the test suite, which built it); its determinism is
# tested by eif/tests. The image's own parts (init, signer) are built cold
# twice.
eif_tool="${SIGNET_EIF_TOOL:-${CARGO_TARGET_DIR:-$repo/target}/debug/signet-eif}"
[ -x "$eif_tool" ] || (cd "$repo" && cargo build --locked -p signet-eif)
export SIGNET_EIF_TOOL="$eif_tool"

step "build 1 of 2 (cold) in $a"
t=$SECONDS
(cd "$a" && eif/build.sh "${args[@]}" --out "$a/out")
cold1=$((SECONDS - t))
step "build 2 of 2 (cold) in $b, CARGO_HOME=$work/other-cargo-home"
t=$SECONDS
(cd "$b" && CARGO_HOME="$work/other-cargo-home" eif/build.sh "${args[@]}" --out "$b/out")
cold2=$((SECONDS - t))

step "the two builds are byte-identical"
failed=0
for f in signet.eif signet.pcrs.json attestation-policy.json pcrs.auto.tfvars.json parts/ramdisk1.cpio parts/ramdisk2.cpio; do
  if cmp -s "$a/out/$f" "$b/out/$f"; then
    echo "  same: $f $(sha256sum "$a/out/$f" | cut -d' ' -f1)"
  else
    echo "  DIFFERENT: $f" >&2
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  "$eif_tool" compare "$a/out/signet.pcrs.json" "$b/out/signet.pcrs.json" >&2 || true
  python3 - "$a/out/signet.pcrs.json" "$b/out/signet.pcrs.json" <<'PY' >&2
import json, sys
x, y = (json.load(open(p))["inputs"] for p in sys.argv[1:])
for k in sorted(set(x) | set(y)):
    if x.get(k) != y.get(k):
        print(f"  input {k}: {x.get(k)} vs {y.get(k)}")
PY
  exit 1
fi

step "the PCRs, checked twice (signet-eif and eif/tests/eif_pcrs.py)"
python3 "$repo/eif/tests/eif_pcrs.py" "$a/out/signet.eif" > "$work/python-pcrs.json"
python3 - "$a/out/signet.pcrs.json" "$work/python-pcrs.json" <<'PY'
import json, sys
ours, theirs = (json.load(open(p)) for p in sys.argv[1:])
for k in ("PCR0", "PCR1", "PCR2"):
    if ours[k] != theirs[k]:
        sys.exit(f"{k}: signet-eif {ours[k]} but eif_pcrs.py {theirs[k]}")
    print(f"  {k} {ours[k]} (both)")
PY

step "eif/build.sh --verify (warm rebuild in $a against $b's signet.pcrs.json)"
t=$SECONDS
(cd "$a" && eif/build.sh "${args[@]}" --out "$a/out" --verify "$b/out/signet.pcrs.json")
warm=$((SECONDS - t))
# A published file that does not match is refused.
python3 - "$b/out/signet.pcrs.json" "$work/tampered.pcrs.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["PCR2"] = "0" * 95 + "1"
json.dump(d, open(sys.argv[2], "w"))
PY
if "$eif_tool" compare "$work/tampered.pcrs.json" "$a/out/signet.pcrs.json" >/dev/null 2>&1; then
  echo "test-eif: compare accepted a different PCR2" >&2
  exit 1
fi
echo "  a signet.pcrs.json with another PCR2 is refused"

step "boot under QEMU"
scripts/test-image.sh "$a/out"

echo
echo "test-eif: image $(stat -c %s "$a/out/signet.eif") bytes; builds: cold ${cold1}s and ${cold2}s, warm ${warm}s"
echo "test-eif: signet.eif sha256 $(sha256sum "$a/out/signet.eif" | cut -d' ' -f1) (both builds)"
[ $# -ge 1 ] || rm -rf "$work"
