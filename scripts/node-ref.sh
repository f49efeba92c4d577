#!/usr/bin/env bash
# Installs the Node reference server (../shared/bench/node-reference: Express + socket.io +
# better-sqlite3) into build/node-reference for the benchmarks and peer tests. shared/ is
# read-only, so it is copied first. better-sqlite3 compiles SQLite from source (~2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${KDS_NODE_REF_SRC:-../shared/bench/node-reference}
dst=build/node-reference
if [ ! -d "$src" ]; then
  echo "node-ref: $src not found" >&2
  exit 1
fi
mkdir -p "$dst"
if [ -d "$dst/node_modules/better-sqlite3" ] && cmp -s "$src/package-lock.json" "$dst/package-lock.json"; then
  cp -r "$src"/server.js "$src"/src "$dst"/
  exit 0
fi
cp -r "$src"/. "$dst"/
chmod -R u+w "$dst"
command -v python3 >/dev/null && command -v g++ >/dev/null && command -v make >/dev/null || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3 g++ make >/dev/null
}
nodedir=""
[ -f /usr/include/node/node.h ] && nodedir="--nodedir=/usr"
(cd "$dst" && npm ci --no-audit --no-fund --loglevel=error $nodedir)
echo "node-ref: installed in $dst"
