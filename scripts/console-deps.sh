#!/usr/bin/env bash
# Installs what the console's browser walk (scripts/console/walk.mjs) needs,
# idempotently: checks first, installs only what is missing, and says what it
# did.
#   - Chromium: Debian's chromium and chromium-driver packages (apt-get, with
#     sudo when not root) when /usr/bin/chromium is missing. No browser is ever
#     downloaded by npm (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).
#   - npm: playwright-core, pinned by the committed scripts/console/package.json
#     + package-lock.json, installed with `npm ci` into
#     ${XDG_CACHE_HOME:-$HOME/.cache}/signet/console-node; reinstalled when the
#     lock's SHA-256 differs from the one recorded there.
# Sourced by scripts/test.sh (also runnable on its own). Exports
# SIGNET_CONSOLE_NODE_MODULES (where playwright-core is), SIGNET_CHROMIUM
# (/usr/bin/chromium) and SIGNET_REQUIRE_CONSOLE=1.
set -euo pipefail

signet_console_src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/console"
signet_console_cache="${XDG_CACHE_HOME:-$HOME/.cache}/signet"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
  echo "missing node/npm (Node.js >= 20): apt-get install nodejs npm, and rerun" >&2
  exit 1
}

# --- Chromium (Debian's) -------------------------------------------------------
SIGNET_CHROMIUM=/usr/bin/chromium
if [ ! -x "$SIGNET_CHROMIUM" ]; then
  signet_console_sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      signet_console_sudo=(sudo)
    else
      echo "missing $SIGNET_CHROMIUM and not root without sudo: apt-get install chromium chromium-driver, and rerun" >&2
      exit 1
    fi
  fi
  echo "installing system packages: chromium chromium-driver"
  "${signet_console_sudo[@]}" apt-get update -qq
  "${signet_console_sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  [ -x "$SIGNET_CHROMIUM" ] || { echo "apt-get installed chromium but $SIGNET_CHROMIUM is missing" >&2; exit 1; }
fi

# --- npm side: playwright-core ---------------------------------------------------
signet_console_nodedir="$signet_console_cache/console-node"
SIGNET_CONSOLE_NODE_MODULES="$signet_console_nodedir/node_modules"
signet_console_lock_sha=$(sha256sum "$signet_console_src/package-lock.json" | cut -d' ' -f1)
signet_console_node_ok() {
  [ "$(cat "$signet_console_nodedir/.lock-sha256" 2>/dev/null)" = "$signet_console_lock_sha" ] || return 1
  [ -f "$SIGNET_CONSOLE_NODE_MODULES/playwright-core/package.json" ] || return 1
  node -e "require('$SIGNET_CONSOLE_NODE_MODULES/playwright-core')" >/dev/null 2>&1
}
if ! signet_console_node_ok; then
  echo "installing playwright-core (npm ci, scripts/console/package-lock.json) into $signet_console_nodedir"
  mkdir -p "$signet_console_nodedir"
  rm -f "$signet_console_nodedir/.lock-sha256"
  cp "$signet_console_src/package.json" "$signet_console_src/package-lock.json" "$signet_console_nodedir/"
  (cd "$signet_console_nodedir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$signet_console_lock_sha" >"$signet_console_nodedir/.lock-sha256"
  signet_console_node_ok || { echo "playwright-core did not install into $SIGNET_CONSOLE_NODE_MODULES" >&2; exit 1; }
fi

export SIGNET_CONSOLE_NODE_MODULES SIGNET_CHROMIUM
export SIGNET_REQUIRE_CONSOLE=1
echo "console walk prerequisites present: $("$SIGNET_CHROMIUM" --version 2>/dev/null | head -n1); playwright-core $(node -p "require('$SIGNET_CONSOLE_NODE_MODULES/playwright-core/package.json').version")"
