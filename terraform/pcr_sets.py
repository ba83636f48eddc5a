#!/usr/bin/env python3
"""Edits the enclave_pcr_sets of a deployment's pcrs.auto.tfvars.json, for
image upgrades and rollbacks (docs/RUNBOOK.md, section 7):

    pcr_sets.py list TFVARS
    pcr_sets.py add TFVARS NEW.json [NEW.json ...]   # accept these images too
    pcr_sets.py keep TFVARS PCR0 [PCR0 ...]          # accept only these images

TFVARS and each NEW.json hold {"enclave_pcr_sets": [{"pcr0": HEX, "pcr1":
HEX, "pcr2": HEX[, "pcr8": HEX]}, ...]} (what the image build writes for one
image). `add` appends the sets not listed yet (the same PCR0 with other
PCR1/2/8 is refused: one image, one set); `keep` names images by PCR0 or by a
prefix of at least 12 hex digits that matches one set. The result is checked
as the module's variable is (1 to 4 sets; 96 lowercase hex digits, not all
zeros; PCR8 optional) and written in place (a new file, then renamed), or
nothing is written and the reason is printed (exit 1; 2: usage).
"""
import json
import os
import re
import sys
import tempfile

HEX = re.compile(r"[0-9a-f]{96}")
FIELDS = ("pcr0", "pcr1", "pcr2", "pcr8")
MAX_SETS = 4


class PcrSetError(Exception):
    """Why a file or the result is refused."""


def check_set(s, where):
    if not isinstance(s, dict):
        raise PcrSetError(f"{where}: a set is an object, not {type(s).__name__}")
    unknown = sorted(set(s) - set(FIELDS))
    if unknown:
        raise PcrSetError(f"{where}: unknown field(s) {', '.join(unknown)} (pcr0, pcr1, pcr2, pcr8)")
    out = {}
    for name in FIELDS:
        value = s.get(name)
        if value is None and name == "pcr8":
            continue
        if not isinstance(value, str) or not HEX.fullmatch(value):
            raise PcrSetError(f"{where}: {name} must be 96 lowercase hex digits (SHA-384)")
        if set(value) == {"0"}:
            raise PcrSetError(f"{where}: {name} is all zeros, what an enclave in debug mode reports")
        out[name] = value
    return out


def check_sets(sets, where):
    if not isinstance(sets, list):
        raise PcrSetError(f"{where}: enclave_pcr_sets must be a list")
    out = [check_set(s, f"{where}: set {i}") for i, s in enumerate(sets)]
    if not 1 <= len(out) <= MAX_SETS:
        raise PcrSetError(f"{where}: {len(out)} sets; the module takes 1 to {MAX_SETS}")
    seen = {}
    for s in out:
        if s["pcr0"] in seen:
            raise PcrSetError(f"{where}: two sets with pcr0 {s['pcr0'][:12]}…")
        seen[s["pcr0"]] = s
    return out


def load(path, must_exist=True):
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        if must_exist:
            raise PcrSetError(f"{path}: no such file")
        return None
    except (OSError, json.JSONDecodeError) as e:
        raise PcrSetError(f"{path}: {e}")
    if not isinstance(doc, dict) or "enclave_pcr_sets" not in doc:
        raise PcrSetError(f"{path}: no enclave_pcr_sets (an older file with enclave_pcr0/1/2? rebuild it)")
    extra = sorted(set(doc) - {"enclave_pcr_sets"})
    if extra:
        raise PcrSetError(f"{path}: unexpected variable(s) {', '.join(extra)}")
    return check_sets(doc["enclave_pcr_sets"], path)


def save(path, sets):
    sets = check_sets(sets, "the result")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pcr_sets.", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"enclave_pcr_sets": sets}, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def add(path, new_paths):
    sets = load(path, must_exist=False) or []
    for new_path in new_paths:
        for s in load(new_path):
            same = next((x for x in sets if x["pcr0"] == s["pcr0"]), None)
            if same is None:
                sets.append(s)
            elif same != s:
                raise PcrSetError(f"{new_path}: pcr0 {s['pcr0'][:12]}… is listed already with other PCR values")
    save(path, sets)
    return sets


def keep(path, prefixes):
    sets = load(path)
    kept = []
    for p in prefixes:
        if not re.fullmatch(r"[0-9a-f]{12,96}", p):
            raise PcrSetError(f"{p!r}: a PCR0 or a prefix of at least 12 lowercase hex digits")
        hits = [s for s in sets if s["pcr0"].startswith(p)]
        if len(hits) != 1:
            raise PcrSetError(f"{p}: matches {len(hits)} sets of {path}")
        if hits[0] not in kept:
            kept.append(hits[0])
    save(path, kept)
    return kept


def main(argv):
    if len(argv) < 3 or argv[1] not in ("list", "add", "keep") or (argv[1] != "list" and len(argv) < 4):
        print(__doc__, file=sys.stderr)
        return 2
    command, path, rest = argv[1], argv[2], argv[3:]
    try:
        sets = load(path) if command == "list" else add(path, rest) if command == "add" else keep(path, rest)
    except PcrSetError as e:
        print(f"pcr_sets: {e}", file=sys.stderr)
        return 1
    for i, s in enumerate(sets):
        print(f"{i}: pcr0 {s['pcr0']}" + (" (signed: pcr8)" if "pcr8" in s else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
