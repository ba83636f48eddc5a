#!/usr/bin/env python3
"""A second, independent reading of an enclave image file (EIF).

Written from the published EIF specification (the "Enclave Image File (EIF)
Specification" of aws-nitro-enclaves-image-format, 2024-06-21), not from
signet-eif or the crate's code, so that the PCRs that KMS and
ATTESTATION_POLICY pin are computed twice, by two programs in two languages:

  header: 548 bytes, big-endian: magic ".eif", u16 version, u16 flags,
          u64 default_mem, u64 default_cpus, u16 reserved, u16 num_sections,
          u64 section_offsets[32], u64 section_sizes[32], u32 reserved,
          u32 crc32 (over the whole file except this field)
  section: u16 type (1 kernel, 2 cmdline, 3 ramdisk, 4 signature,
           5 metadata), u16 flags, u64 size, then the data
  PCRn = SHA-384(48 zero bytes || SHA-384(content)), where content is
    PCR0: kernel . cmdline . every ramdisk, in file order
    PCR1: kernel . cmdline . the first ramdisk
    PCR2: every ramdisk but the first

usage: eif_pcrs.py IMAGE.eif [--extract DIR]
Prints {"PCR0": hex, "PCR1": hex, "PCR2": hex} (exit 0), or why the file is
refused (exit 1). --extract writes kernel, cmdline and ramdisk-N (what the
hypervisor loads) into DIR, for booting the image elsewhere (QEMU).
Signed images (a signature section, PCR8) are refused: ours are unsigned.
"""
import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

HEADER = struct.Struct(">4sHHQQHH32Q32QII")
SECTION = struct.Struct(">HHQ")
KERNEL, CMDLINE, RAMDISK, SIGNATURE, METADATA = 1, 2, 3, 4, 5


class Refused(Exception):
    pass


def sections(data):
    """[(type, bytes)] in file order, every size and offset checked."""
    if len(data) < HEADER.size:
        raise Refused("shorter than the 548-byte header")
    fields = HEADER.unpack_from(data)
    magic, version, _flags, _mem, _cpus, _res, count = fields[:7]
    offsets, sizes = fields[7:39], fields[39:71]
    crc = fields[72]
    if magic != b".eif":
        raise Refused(f"magic {magic!r} is not .eif")
    if version not in (2, 3, 4):
        raise Refused(f"version {version} is not 2, 3 or 4")
    if zlib.crc32(data[: HEADER.size - 4] + data[HEADER.size :]) != crc:
        raise Refused("crc32 mismatch")
    if not 2 <= count <= 32:
        raise Refused(f"{count} sections")
    out = []
    end = HEADER.size
    for i in range(count):
        start = offsets[i]
        if start < end:
            raise Refused(f"section {i} overlaps what precedes it")
        if start + SECTION.size > len(data):
            raise Refused(f"section {i}'s header is past the end")
        kind, _f, size = SECTION.unpack_from(data, start)
        if size != sizes[i]:
            raise Refused(f"section {i}: header says {size} bytes, the EIF header {sizes[i]}")
        begin = start + SECTION.size
        if begin + size > len(data):
            raise Refused(f"section {i} runs past the end")
        if kind not in (KERNEL, CMDLINE, RAMDISK, SIGNATURE, METADATA):
            raise Refused(f"section {i} has type {kind}")
        out.append((kind, data[begin : begin + size]))
        end = begin + size
    if end != len(data):
        raise Refused(f"{len(data) - end} bytes after the last section")
    kinds = [k for k, _ in out]
    if kinds.count(KERNEL) != 1 or kinds.count(CMDLINE) != 1:
        raise Refused("not exactly one kernel and one command line")
    if RAMDISK not in kinds:
        raise Refused("no ramdisk")
    if kinds.index(RAMDISK) < kinds.index(KERNEL):
        raise Refused("a ramdisk precedes the kernel")
    if version >= 4 and METADATA not in kinds:
        raise Refused("version 4 without a metadata section")
    if SIGNATURE in kinds:
        raise Refused("signed image (PCR8): not supported by this checker")
    return out


def pcr(content_digest):
    return hashlib.sha384(bytes(48) + content_digest).hexdigest()


def pcrs(data):
    parts = sections(data)
    measured = [(k, d) for k, d in parts if k in (KERNEL, CMDLINE, RAMDISK)]
    ramdisks = [d for k, d in parts if k == RAMDISK]
    boot = [d for k, d in measured if k != RAMDISK] + ramdisks[:1]
    # Kernel and command line, in file order, then the ramdisks in file order.
    pcr0 = hashlib.sha384(b"".join(d for _, d in measured)).digest()
    pcr1 = hashlib.sha384(b"".join(boot)).digest()
    pcr2 = hashlib.sha384(b"".join(ramdisks[1:])).digest()
    return {"PCR0": pcr(pcr0), "PCR1": pcr(pcr1), "PCR2": pcr(pcr2)}, parts


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--extract"):
        print(__doc__.split("usage: ")[1].split("\n")[0], file=sys.stderr)
        return 2
    try:
        data = Path(argv[1]).read_bytes()
        result, parts = pcrs(data)
    except (OSError, Refused) as e:
        print(f"eif_pcrs.py: {argv[1]}: {e}", file=sys.stderr)
        return 1
    if len(argv) == 4:
        out = Path(argv[3])
        out.mkdir(parents=True, exist_ok=True)
        n = 0
        for kind, d in parts:
            if kind == KERNEL:
                (out / "kernel").write_bytes(d)
            elif kind == CMDLINE:
                (out / "cmdline").write_bytes(d)
            elif kind == RAMDISK:
                n += 1
                (out / f"ramdisk-{n}").write_bytes(d)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
