#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database, offline: fails on
# any crate version with a vulnerability advisory that .cargo/audit.toml does
# not list as an exception (each with its reason). Unmaintained, unsound and
# yanked notices are printed, not fatal.
#
# The database is a snapshot (crates/ and rust/ of rustsec/advisory-db, no
# git history) that the CI machine provides beside the clone: CI has no
# network to fetch it. $SIGNET_ADVISORY_DB names it (and must then hold it);
# otherwise the CI machine's usual places are tried (below). None found: with
# CI=true this fails; otherwise it is skipped, loudly.
#
# The tool is cargo-audit at a pinned version, installed into cargo's bin
# directory when missing or at another version (cargo install --locked).
# cargo-audit, not cargo-deny: `cargo audit --db DIR --no-fetch` reads the
# advisories from a plain directory (rustsec's Database::open walks
# crates/*/*.md), while cargo-deny with fetching off still opens the database
# as a git repository (to check its age) and writes a lock file next to it,
# which a read-only snapshot without .git cannot give it.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_AUDIT_VERSION=0.22.2

db=""
if [ -n "${SIGNET_ADVISORY_DB:-}" ]; then
  if ! [ -d "$SIGNET_ADVISORY_DB/crates" ]; then
    echo "SIGNET_ADVISORY_DB=$SIGNET_ADVISORY_DB has no crates/ directory" >&2
    exit 1
  fi
  db=$SIGNET_ADVISORY_DB
fi
for candidate in "$(cd .. && pwd)/shared/advisory-db" /work/shared/advisory-db; do
  if [ -z "$db" ] && [ -d "$candidate/crates" ]; then
    db=$candidate
  fi
done
if [ -z "$db" ]; then
  if [ "${CI:-}" = true ]; then
    echo "no RustSec advisory database snapshot found (SIGNET_ADVISORY_DB, ../shared/advisory-db, /work/shared/advisory-db): CI cannot check the dependencies" >&2
    exit 1
  fi
  echo "WARNING: no RustSec advisory database snapshot found (set SIGNET_ADVISORY_DB): the dependency vulnerability check is SKIPPED" >&2
  exit 0
fi

if ! cargo install --list | grep -qx "cargo-audit v$CARGO_AUDIT_VERSION:"; then
  echo "installing cargo-audit $CARGO_AUDIT_VERSION (cargo install --locked; a few minutes, once)"
  # binary-scanning (`cargo audit bin`) is not used here.
  # Its lock file may pin a version the registry no longer serves (yanked):
  # then resolve afresh within the same cargo-audit release.
  cargo install --locked --no-default-features --quiet cargo-audit --version "$CARGO_AUDIT_VERSION" ||
    cargo install --no-default-features --quiet cargo-audit --version "$CARGO_AUDIT_VERSION"
fi

snapshot=$(head -n1 "$db/SNAPSHOT" 2>/dev/null || echo "(no SNAPSHOT file)")
echo "advisory database: $db — $snapshot"

# An exception whose crate is no longer in Cargo.lock is stale: remove it.
stale=0
for id in $(sed -n 's/^[[:space:]]*"\(RUSTSEC-[0-9]\{4\}-[0-9]\{4\}\)".*/\1/p' .cargo/audit.toml); do
  file=$(find "$db/crates" -name "$id.md" -print -quit)
  if [ -z "$file" ]; then
    echo "exception $id (.cargo/audit.toml) is not in the advisory database" >&2
    stale=1
    continue
  fi
  crate=$(basename "$(dirname "$file")")
  if ! grep -qx "name = \"$crate\"" Cargo.lock; then
    echo "exception $id (.cargo/audit.toml) is for $crate, which Cargo.lock no longer has: remove it" >&2
    stale=1
  fi
done

# An exception that claims its crate is compiled into nothing: check it.
while read -r crate; do
  tree=$(cargo tree --locked --all-features --target all -e normal,build,dev -i "$crate" 2>/dev/null || true)
  if [ -n "$tree" ]; then
    echo "an exception in .cargo/audit.toml says $crate is not built, but it is:" >&2
    echo "$tree" >&2
    stale=1
  fi
done < <(sed -n 's/^[[:space:]]*"RUSTSEC-[0-9-]*",[[:space:]]*#[[:space:]]*not built:[[:space:]]*\([A-Za-z0-9_-]*\).*/\1/p' .cargo/audit.toml)

# .cargo/audit.toml: the exceptions, and no yanked check (it needs the
# crates.io index, which is not fetched either).
cargo audit --db "$db" --no-fetch --file Cargo.lock
exit "$stale"
