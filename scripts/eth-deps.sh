#!/usr/bin/env bash
# Installs what the Ethereum JSON-RPC client walks (scripts/eth/) need,
# idempotently: checks first, installs only what is missing, and says what it
# did. Everything goes into per-user caches; only the npm registry and PyPI
# are used (the anvil/cast binaries come inside registry packages).
#   - npm: anvil and cast (Foundry's npm builds: @foundry-rs/{anvil,cast}-linux-amd64,
#     the binary packages that @foundry-rs/anvil and @foundry-rs/cast wrap),
#     ethers (v6) and viem (v2), pinned by the committed
#     scripts/eth/package.json + package-lock.json, installed with `npm ci` into
#     ${XDG_CACHE_HOME:-$HOME/.cache}/signet/eth-node;
#   - Python: a venv ${XDG_CACHE_HOME:-$HOME/.cache}/signet/eth-venv with web3
#     (scripts/eth/requirements.txt); a venv that already imports web3 is kept.
# Sourced by scripts/test.sh (also runnable on its own). Exports SIGNET_ANVIL,
# SIGNET_CAST (absolute paths of the binaries), SIGNET_ETH_NODE_MODULES (for
# NODE_PATH), SIGNET_ETH_PYTHON (the venv's interpreter), SIGNET_REQUIRE_ETH=1.
set -euo pipefail

signet_eth_src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/eth"
signet_eth_cache="${XDG_CACHE_HOME:-$HOME/.cache}/signet"

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
  echo "missing node/npm (Node.js >= 20): apt-get install nodejs npm, and rerun" >&2
  exit 1
}
command -v python3 >/dev/null 2>&1 || { echo "missing python3 (apt-get install python3 python3-venv)" >&2; exit 1; }

# --- npm side: anvil, cast, ethers, viem ------------------------------------
signet_eth_nodedir="$signet_eth_cache/eth-node"
SIGNET_ETH_NODE_MODULES="$signet_eth_nodedir/node_modules"
# The binaries ship in per-platform packages. The wrappers @foundry-rs/anvil
# and @foundry-rs/cast list all platforms as optional dependencies, but the
# registry reached here serves only the linux-amd64 ones, so their lock is never
# in sync for `npm ci`: the committed lock pins the linux-amd64 packages
# directly. The native binary (not a node wrapper) is what a test starts, so
# killing anvil's pid stops anvil itself.
signet_eth_bin() { # tool -> absolute path of the native binary, or nothing
  local p="$SIGNET_ETH_NODE_MODULES/@foundry-rs/$1-linux-amd64/bin/$1"
  if [ -x "$p" ]; then echo "$p"; fi
}
signet_eth_node_ok() {
  cmp -s "$signet_eth_src/package-lock.json" "$signet_eth_nodedir/package-lock.json" || return 1
  [ -d "$SIGNET_ETH_NODE_MODULES/ethers" ] && [ -d "$SIGNET_ETH_NODE_MODULES/viem" ] || return 1
  local a c
  a=$(signet_eth_bin anvil) && c=$(signet_eth_bin cast) || return 1
  [ -n "$a" ] && [ -n "$c" ] && "$a" --version >/dev/null 2>&1 && "$c" --version >/dev/null 2>&1
}
if ! signet_eth_node_ok; then
  echo "installing anvil, cast, ethers and viem (npm ci, scripts/eth/package-lock.json) into $signet_eth_nodedir"
  mkdir -p "$signet_eth_nodedir"
  cp "$signet_eth_src/package.json" "$signet_eth_src/package-lock.json" "$signet_eth_nodedir/"
  (cd "$signet_eth_nodedir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  signet_eth_node_ok || {
    echo "anvil/cast from @foundry-rs/* do not run here ($(uname -sm)); only linux-amd64 is pinned in scripts/eth/package-lock.json" >&2
    exit 1
  }
fi
SIGNET_ANVIL=$(signet_eth_bin anvil)
SIGNET_CAST=$(signet_eth_bin cast)

# --- Python side: web3.py (brings eth-account) --------------------------------
signet_eth_venv="$signet_eth_cache/eth-venv"
SIGNET_ETH_PYTHON="$signet_eth_venv/bin/python"
if ! "$SIGNET_ETH_PYTHON" -c 'import web3, eth_account' >/dev/null 2>&1; then
  echo "installing web3 (scripts/eth/requirements.txt) into $signet_eth_venv"
  if [ ! -x "$SIGNET_ETH_PYTHON" ]; then
    python3 -m venv "$signet_eth_venv" || {
      echo "python3 -m venv failed (apt-get install python3-venv, and rerun)" >&2
      exit 1
    }
  fi
  "$signet_eth_venv/bin/pip" install -q --disable-pip-version-check -r "$signet_eth_src/requirements.txt"
fi

export SIGNET_ANVIL SIGNET_CAST SIGNET_ETH_NODE_MODULES SIGNET_ETH_PYTHON
export SIGNET_REQUIRE_ETH=1
echo "eth client prerequisites present: $("$SIGNET_ANVIL" --version | head -n1); $("$SIGNET_CAST" --version | head -n1); ethers $(node -p "require('$SIGNET_ETH_NODE_MODULES/ethers/package.json').version"); viem $(node -p "require('$SIGNET_ETH_NODE_MODULES/viem/package.json').version"); $("$SIGNET_ETH_PYTHON" -c 'import sys, web3, importlib.metadata as m; print("python", sys.version.split()[0], "web3", web3.__version__, "eth-account", m.version("eth-account"))')"
