#!/usr/bin/env bash
# Durability soak, not run in CI: TRIALS (default 10) kill -9 trials under concurrent order
# POSTs on one database, each followed by a restart and a check that every acknowledged
# (201) order is there exactly once and the day's invoice numbers have no gap (see
# tests/lib/soak.js). Uses the release build's kds-server (built first if missing), or
# KDS_SERVER_BIN. Loopback only; stops by itself. Exit status non-zero on any loss,
# duplicate or gap.
# Usage: scripts/soak.sh [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-10}
bin=${KDS_SERVER_BIN:-$PWD/build/kds-server}
if [ ! -x "$bin" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build --target kds-server
fi
[ -d node_modules ] || scripts/deps.sh
KDS_SERVER_BIN=$bin NODE_PATH=$PWD/node_modules exec node tests/lib/soak.js "$trials"
