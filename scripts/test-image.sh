#!/usr/bin/env bash
# Boots the enclave image under QEMU (software emulation, no Nitro) and
# checks from its serial console that signet-init mounted, loaded each
# module, went on without the Nitro heartbeat, started the signer with its
# pinned arguments, that the signer, finding no /dev/nsm, refused to run
# with its clear message, and that the init then powered off: no kernel
# panic, no hang (QEMU must exit by itself before the timeout).
#
#   scripts/test-image.sh [DIR]
#
# DIR holds signet.eif (eif/build.sh's --out; default target/eif, built
# first with test values when it has no image). What boots is what the EIF
# holds: its kernel, command line and ramdisks are taken out of the file by
# the independent reader (eif/tests/eif_pcrs.py), not from the build's parts.
# Installs qemu-system-x86 when missing (root), idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${1:-target/eif}"
timeout_s="${SIGNET_QEMU_TIMEOUT:-300}"
if ! [ -f "$dir/signet.eif" ]; then
  [ $# -eq 0 ] || { echo "test-image: $dir/signet.eif: no such file" >&2; exit 2; }
  echo "test-image: no image in $dir; building one with test values"
  eif/build.sh --kms-key-arn arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789 \
    --region eu-west-1 --deployment signet-test --out "$dir"
fi
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-image: qemu-system-x86_64 is missing (apt-get install qemu-system-x86)" >&2
    exit 1
  fi
  echo "installing qemu-system-x86"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 eif/tests/eif_pcrs.py "$dir/signet.eif" --extract "$work" >/dev/null
ls "$work"/ramdisk-* >/dev/null
# The hypervisor places the ramdisks one after the other: one initrd.
cat "$work"/ramdisk-* > "$work/initrd"
log="$dir/qemu-console.log"
echo "test-image: booting $dir/signet.eif under qemu-system-x86_64 -accel tcg (timeout ${timeout_s}s)"
start=$SECONDS
status=0
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 1 \
  -nodefaults -no-reboot -display none -monitor none -serial "file:$log" \
  -kernel "$work/kernel" -initrd "$work/initrd" -append "$(cat "$work/cmdline")" || status=$?
echo "test-image: QEMU exited with $status after $((SECONDS - start)) s; console in $log"

failures=0
expect() {
  if grep -qF -- "$1" "$log"; then
    echo "  ok: $1"
  else
    echo "  MISSING: $1" >&2
    failures=$((failures + 1))
  fi
}
refuse() {
  if grep -qF -- "$1" "$log"; then
    echo "  FOUND: $1" >&2
    failures=$((failures + 1))
  else
    echo "  ok: no \"$1\""
  fi
}
[ "$status" -eq 0 ] || { echo "  QEMU did not power off by itself (exit $status: 124 is the timeout)" >&2; failures=$((failures + 1)); }
expect "signet-init: mounted /proc, /sys, /dev, /tmp"
for m in virtio_mmio vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport nsm; do
  expect "signet-init: loaded module $m ("
done
expect "signet-init: no Nitro heartbeat"
expect "signet-init: starting /bin/signet-enclave --listen vsock://5000 --attestation nsm --backend software --sealing kms --secrets host --kms-proxy vsock://3:8000 --kms-key-id arn:aws:kms:"
expect "signet-enclave: cannot open /dev/nsm (No such file or directory (os error 2)): not inside a Nitro enclave"
expect "signet-init: the signer stopped (exit status: 2); powering off"
expect "reboot: Power down"
refuse "Kernel panic"
refuse "Attempted to kill init"
refuse "panicked at"
refuse "signet-init: cannot"
echo "key lines:"
grep -E "^Linux version|signet-init:|signet-enclave:|reboot:" "$log" | sed 's/^/  | /'
if [ "$failures" -ne 0 ]; then
  echo "test-image: $failures check(s) failed; the console:" >&2
  cat "$log" >&2
  exit 1
fi
echo "test-image: the image booted, the signer refused to run without an NSM, the init powered off"
