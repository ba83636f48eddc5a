#!/usr/bin/env bash
# Builds the Signet enclave image (EIF) without Docker or nitro-cli, from
# inputs pinned by version and hash, so that anyone with Debian 12 and the
# pinned Rust toolchain rebuilds the same bytes and reads the same PCRs.
#
#   eif/build.sh --kms-key-arn ARN --region REGION --deployment NAME
#                [--out DIR] [--verify PCRS.json] [--kernel-deb FILE]
#
# Writes into DIR (default target/eif):
#   signet.eif                the image
#   signet.pcrs.json          PCR0/1/2, the image's SHA-256, the kernel command
#                             line, the SHA-256 of every input, the build facts
#   attestation-policy.json   the host's ATTESTATION_POLICY (this image only)
#   pcrs.auto.tfvars.json     the Terraform module's enclave_pcr_sets (this image only)
#   parts/                    what went in: vmlinuz, the two ramdisks, their manifests
# --verify PCRS.json rebuilds and compares with a published signet.pcrs.json
# (exit 1, with every difference, when a PCR differs).
#
# What goes in (eif/README.md says why):
#   - Debian's cloud kernel package, pinned below by version and SHA-256:
#     its vmlinuz and the modules virtio_mmio, vsock,
#     vmw_vsock_virtio_transport (+ _common) and nsm, with a modules.dep
#     trimmed to them (depmod, modprobe --show-depends);
#   - signet-init (PID 1) and signet-enclave, built for x86_64-unknown-linux-musl
#     (static) with the pinned toolchain, --locked, paths remapped;
#   - ramdisk 1 = /init + the modules, ramdisk 2 = the signer + its
#     configuration (the ARN, region and deployment below): deterministic
#     newc cpios (signet-eif cpio);
#   - the EIF packed by signet-eif build (AWS's image-format crate), with
#     the Nitro kernel command line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
started=$SECONDS

# ---- pins ------------------------------------------------------------------
KERNEL_PACKAGE="linux-image-6.12.117+deb12-cloud-amd64-unsigned"
KERNEL_VERSION="6.12.117-1~deb12u1"
KERNEL_RELEASE="6.12.117+deb12-cloud-amd64"
KERNEL_DEB_SHA256="670b2688bcf94c24693f7c7e1fc9776ff2e202ff15553a2614f79415d48a6607"
KERNEL_DEB_POOL="pool/updates/main/l/linux-6.12"   # in debian-security (bookworm-security)
RUST_TOOLCHAIN="1.95.0"
TARGET="x86_64-unknown-linux-musl"
MODULES=(virtio_mmio vsock vmw_vsock_virtio_transport nsm)
# The command line of nitro-cli's x86_64 kernel blob, the one Nitro boots with.
CMDLINE="reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on"

usage() {
  local code=${1:-2} text
  text=$(cat <<'USAGE'
usage: eif/build.sh --kms-key-arn ARN --region REGION --deployment NAME [--out DIR] [--verify PCRS.json] [--kernel-deb FILE]

  --kms-key-arn ARN   the sealing key: arn:aws:kms:REGION:ACCOUNT:key/ID
                      (terraform output -raw sealing_key_arn; not an alias)
  --region REGION     the key's region (e.g. eu-west-1)
  --deployment NAME   the Terraform module's `name` (e.g. signet)
  --out DIR           where the image and its PCRs go (default: target/eif)
  --verify PCRS.json  rebuild and compare with a published signet.pcrs.json
  --kernel-deb FILE   the pinned kernel package, fetched by hand (also
                      SIGNET_KERNEL_DEB=FILE); checked against its SHA-256

The three values are pinned into the image (ramdisk 2) and change its PCRs.
USAGE
  )
  if [ "$code" = 0 ]; then echo "$text"; else echo "$text" >&2; fi
  exit "$code"
}

die() { echo "eif/build.sh: $*" >&2; exit 1; }
step() { printf '==> %s\n' "$*"; }

kms_key_arn="" region="" deployment="" out="" verify="" kernel_deb="${SIGNET_KERNEL_DEB:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --kms-key-arn | --region | --deployment | --out | --verify | --kernel-deb)
      [ $# -ge 2 ] || { echo "eif/build.sh: $1 needs a value" >&2; usage; }
      case "$1" in
        --kms-key-arn) kms_key_arn=$2 ;;
        --region) region=$2 ;;
        --deployment) deployment=$2 ;;
        --out) out=$2 ;;
        --verify) verify=$2 ;;
        --kernel-deb) kernel_deb=$2 ;;
      esac
      shift 2
      ;;
    --kms-key-arn=*) kms_key_arn=${1#*=}; shift ;;
    --region=*) region=${1#*=}; shift ;;
    --deployment=*) deployment=${1#*=}; shift ;;
    --out=*) out=${1#*=}; shift ;;
    --verify=*) verify=${1#*=}; shift ;;
    --kernel-deb=*) kernel_deb=${1#*=}; shift ;;
    -h | --help) usage 0 ;;
    *) echo "eif/build.sh: unknown option $1" >&2; usage ;;
  esac
done
if [ -z "$kms_key_arn" ] || [ -z "$region" ] || [ -z "$deployment" ]; then
  echo "eif/build.sh: --kms-key-arn, --region and --deployment are required" >&2
  usage
fi
# The same checks as signet-init's at boot, early and with this script's names.
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
if [ -n "$verify" ] && ! [ -f "$verify" ]; then
  echo "eif/build.sh: --verify $verify: no such file" >&2
  exit 2
fi
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$KERNEL_DEB_SHA256" ]; }
if [ -n "$kernel_deb" ]; then
  [ -f "$kernel_deb" ] || die "--kernel-deb $kernel_deb: no such file"
  sha_ok "$kernel_deb" || die "$kernel_deb is not $KERNEL_PACKAGE $KERNEL_VERSION: its SHA-256 is $(sha256sum "$kernel_deb" | cut -d' ' -f1), not the pinned $KERNEL_DEB_SHA256"
  kernel_deb=$(cd "$(dirname "$kernel_deb")" && pwd -P)/$(basename "$kernel_deb")
fi
out="${out:-target/eif}"
mkdir -p "$out"
out=$(cd "$out" && pwd -P)
[ -z "$verify" ] || verify=$(cd "$(dirname "$verify")" && pwd -P)/$(basename "$verify")
if [ -n "$verify" ] && [ "$verify" = "$out/signet.pcrs.json" ]; then
  # Rebuilding over the file to compare with: keep a copy of it.
  cp "$verify" "$out/expected.pcrs.json"
  verify="$out/expected.pcrs.json"
fi

# ---- prerequisites (installed when missing and we are root) -----------------
need_apt=()
command -v musl-gcc >/dev/null 2>&1 || need_apt+=(musl-tools)
command -v dpkg-deb >/dev/null 2>&1 || need_apt+=(dpkg)
command -v depmod >/dev/null 2>&1 || need_apt+=(kmod)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    die "missing system packages: ${need_apt[*]} (apt-get install ${need_apt[*]})"
  fi
  step "installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v rustup >/dev/null 2>&1 || die "rustup is required (the toolchain is pinned: Rust $RUST_TOOLCHAIN)"
export RUSTUP_TOOLCHAIN="$RUST_TOOLCHAIN"
if ! rustup run "$RUST_TOOLCHAIN" rustc --version >/dev/null 2>&1; then
  step "installing Rust $RUST_TOOLCHAIN"
  rustup toolchain install "$RUST_TOOLCHAIN" --profile minimal
fi
if ! rustup target list --toolchain "$RUST_TOOLCHAIN" --installed | grep -qx "$TARGET"; then
  step "adding the $TARGET target"
  rustup target add --toolchain "$RUST_TOOLCHAIN" "$TARGET"
fi
rustc_version=$(rustc --version)

# ---- the kernel package ------------------------------------------------------
cache="${SIGNET_EIF_CACHE:-$root/target/eif-cache}"
mkdir -p "$cache"
deb_name="${KERNEL_PACKAGE}_${KERNEL_VERSION}_amd64.deb"
by_hand="Fetch it by hand (any Debian mirror's debian-security/$KERNEL_DEB_POOL/, or
snapshot.debian.org, package linux-6.12, version $KERNEL_VERSION) and pass it:
  eif/build.sh … --kernel-deb FILE   (or SIGNET_KERNEL_DEB=FILE)
Its SHA-256 must be $KERNEL_DEB_SHA256."
if [ -n "$kernel_deb" ]; then
  deb=$kernel_deb   # checked above
else
  deb="$cache/$deb_name"
  if ! sha_ok "$deb"; then
    rm -f "$deb"
    step "downloading $KERNEL_PACKAGE=$KERNEL_VERSION"
    # The machine's apt sources first; then a private list naming
    # bookworm-security, which this script keeps in its cache (nothing of
    # the system's apt configuration is changed).
    if ! (cd "$cache" && apt-get download -q "$KERNEL_PACKAGE=$KERNEL_VERSION" >/dev/null 2>&1); then
      apt_dir="$cache/apt"
      mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main" > "$apt_dir/sources.list"
      apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives" -o "APT::Sandbox::User=root")
      apt-get "${apt_opts[@]}" update -qq >/dev/null 2>&1 || true
      (cd "$cache" && apt-get "${apt_opts[@]}" download -q "$KERNEL_PACKAGE=$KERNEL_VERSION" >/dev/null 2>&1) \
        || die "the Debian archive does not serve $KERNEL_PACKAGE $KERNEL_VERSION (any more).
$by_hand"
    fi
    sha_ok "$deb" || die "the archive served a $deb_name whose SHA-256 is $(sha256sum "$deb" | cut -d' ' -f1), not the pinned $KERNEL_DEB_SHA256.
$by_hand"
  fi
fi
echo "kernel package: $deb_name (sha256 $KERNEL_DEB_SHA256)"

parts="$out/parts"
rm -rf "$parts"
mkdir -p "$parts/kernel" "$parts/r1/files" "$parts/r2/files"
dpkg-deb -x "$deb" "$parts/kernel"
moddir="$parts/kernel/lib/modules/$KERNEL_RELEASE"
[ -f "$parts/kernel/boot/vmlinuz-$KERNEL_RELEASE" ] || die "$deb_name holds no boot/vmlinuz-$KERNEL_RELEASE"
cp "$parts/kernel/boot/vmlinuz-$KERNEL_RELEASE" "$parts/vmlinuz"
depmod -b "$parts/kernel" "$KERNEL_RELEASE"

# The modules and their dependencies (kmod's resolution, in load order);
# signet-init resolves the order again at boot from the trimmed modules.dep.
closure=()
for m in "${MODULES[@]}"; do
  lines=$(modprobe --show-depends -d "$parts/kernel" -S "$KERNEL_RELEASE" "$m") \
    || die "module $m is not in $KERNEL_PACKAGE"
  while read -r verb path _; do
    [ "$verb" = insmod ] || die "module $m: unexpected modprobe line: $verb $path"
    rel=${path#"$moddir/"}
    [[ " ${closure[*]-} " == *" $rel "* ]] || closure+=("$rel")
  done <<< "$lines"
done
r1="$parts/r1"
{
  echo "dir /dev 0755"
  echo "nod /dev/console 0600 c 5 1"
  echo "dir /proc 0555"
  echo "dir /sys 0555"
  echo "dir /tmp 1777"
  echo "file /init files/init 0500"
  echo "dir /lib 0755"
  echo "dir /lib/modules 0755"
  echo "file /lib/modules/modules.dep files/modules.dep 0444"
  echo "file /lib/modules/modules.load files/modules.load 0444"
  dirs=()
  for rel in "${closure[@]}"; do
    d=$(dirname "$rel")
    while [ "$d" != . ]; do dirs+=("$d"); d=$(dirname "$d"); done
  done
  printf '%s\n' "${dirs[@]}" | sort -u | while read -r d; do echo "dir /lib/modules/$d 0755"; done
  for rel in "${closure[@]}"; do
    mkdir -p "$r1/files/modules/$(dirname "$rel")"
    cp "$moddir/$rel" "$r1/files/modules/$rel"
    echo "file /lib/modules/$rel files/modules/$rel 0444"
  done
} > "$r1/manifest"
: > "$r1/files/modules.dep"
for rel in "${closure[@]}"; do
  grep -E "^${rel//./\\.}:" "$moddir/modules.dep" >> "$r1/files/modules.dep" \
    || die "$rel is not in modules.dep"
done
printf '%s\n' "${MODULES[@]}" > "$r1/files/modules.load"
echo "modules: ${closure[*]}"

# ---- the init and the signer (static, reproducible) --------------------------
step "building signet-init and signet-enclave for $TARGET"
# Everything that names this machine's paths is remapped: the source tree,
# cargo's and rustup's homes, the target directory (later prefixes win).
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
cargo_home=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
rustup_home=$(cd "${RUSTUP_HOME:-$HOME/.rustup}" && pwd -P)
target_dir="${SIGNET_EIF_TARGET_DIR:-$root/target/eif-build}"
mkdir -p "$target_dir"
target_dir=$(cd "$target_dir" && pwd -P)
remap=("--remap-path-prefix=$root=/signet" "--remap-path-prefix=$cargo_home=/cargo"
  "--remap-path-prefix=$rustup_home=/rustup" "--remap-path-prefix=$target_dir=/target")
rustflags=(-C target-feature=+crt-static "${remap[@]}")
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; echo "${rustflags[*]}")
export CARGO_ENCODED_RUSTFLAGS
unset RUSTFLAGS
cflags="-ffile-prefix-map=$root=/signet -ffile-prefix-map=$cargo_home=/cargo -ffile-prefix-map=$target_dir=/target"
export CC_x86_64_unknown_linux_musl=musl-gcc
export CFLAGS_x86_64_unknown_linux_musl="$cflags"
export CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never
nice -n "${SIGNET_EIF_NICE:-0}" cargo build --release --locked --target "$TARGET" \
  --target-dir "$target_dir" --config 'profile.release.strip="symbols"' \
  -p signet-enclave -p signet-init
bin="$target_dir/$TARGET/release"
cp "$bin/signet-init" "$r1/files/init"
cp "$bin/signet-enclave" "$parts/r2/files/signet-enclave"
# The host tool that packs the image: not part of it (what it writes is
# checked by the byte comparison and by the independent PCR reader), built
# in the workspace's usual target directory so that a developer's or CI's
# earlier `cargo build`/`cargo test` is reused.
# SIGNET_EIF_TOOL=PATH uses a signet-eif built already (scripts/test-eif.sh
# passes the one its test run built).
unset CARGO_ENCODED_RUSTFLAGS CFLAGS_x86_64_unknown_linux_musl
if [ -n "${SIGNET_EIF_TOOL:-}" ]; then
  eif_tool=$SIGNET_EIF_TOOL
  [ -x "$eif_tool" ] || die "SIGNET_EIF_TOOL=$eif_tool is not an executable"
else
  tool_dir="${CARGO_TARGET_DIR:-$root/target}"
  cargo build --locked --target-dir "$tool_dir" -p signet-eif
  eif_tool="$tool_dir/debug/signet-eif"
fi

# ---- ramdisk 2: the signer and its configuration ------------------------------
r2="$parts/r2"
printf 'kms_key_id=%s\nkms_region=%s\ndeployment=%s\n' "$kms_key_arn" "$region" "$deployment" > "$r2/files/signer.conf"
cat > "$r2/manifest" <<'MANIFEST'
dir /bin 0755
file /bin/signet-enclave files/signet-enclave 0555
dir /etc 0755
dir /etc/signet 0755
file /etc/signet/signer.conf files/signer.conf 0444
MANIFEST

step "ramdisks and the EIF"
"$eif_tool" cpio --manifest "$r1/manifest" --output "$parts/ramdisk1.cpio" >/dev/null
"$eif_tool" cpio --manifest "$r2/manifest" --output "$parts/ramdisk2.cpio" >/dev/null
inputs=(--input "kernel-deb=$deb" --input "init=$r1/files/init" --input "signer=$r2/files/signet-enclave"
  --input "signer.conf=$r2/files/signer.conf" --input "modules.dep=$r1/files/modules.dep")
for rel in "${closure[@]}"; do
  inputs+=(--input "module/$(basename "$rel")=$r1/files/modules/$rel")
done
"$eif_tool" build --kernel "$parts/vmlinuz" --cmdline "$CMDLINE" \
  --ramdisk "$parts/ramdisk1.cpio" --ramdisk "$parts/ramdisk2.cpio" \
  --output "$out/signet.eif" --kernel-version "$KERNEL_RELEASE" \
  --describe "$out/signet.pcrs.json" "${inputs[@]}" \
  --fact "kernel-package=$KERNEL_PACKAGE=$KERNEL_VERSION" \
  --fact "rustc=$rustc_version" --fact "target=$TARGET" \
  --fact "kms-key-arn=$kms_key_arn" --fact "kms-region=$region" --fact "deployment=$deployment" >/dev/null
"$eif_tool" policy "$out/signet.pcrs.json" > "$out/attestation-policy.json"
"$eif_tool" tfvars "$out/signet.pcrs.json" > "$out/pcrs.auto.tfvars.json"

echo "wrote $out/signet.eif ($(stat -c %s "$out/signet.eif") bytes, sha256 $(sha256sum "$out/signet.eif" | cut -d' ' -f1))"
python3 - "$out/signet.pcrs.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("PCR0", "PCR1", "PCR2"):
    print(f"{k} {d[k]}")
PY
echo "pinned: KMS key $kms_key_arn ($region), deployment $deployment; built in $((SECONDS - started)) s"
if [ -n "$verify" ]; then
  step "comparing with $verify"
  if "$eif_tool" compare "$verify" "$out/signet.pcrs.json" > "$out/compare.json" 2> "$out/compare.err"; then
    echo "verified: the rebuilt image has the PCRs of $verify"
  else
    cat "$out/compare.err" >&2
    die "the rebuilt image differs from $verify"
  fi
fi
