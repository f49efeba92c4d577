#!/usr/bin/env bash
# The demo: builds, starts kds-server with the demo menu on port 3000 (or $PORT), creates
# a cashier and a kitchen user, posts a sample order every few seconds, and runs the
# kitchen display in this terminal. Quitting the display (q) stops everything it started.
# Usage: scripts/demo.sh          (installs what is missing first)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

port=${PORT:-3000}
dir=$(mktemp -d /tmp/kds-demo.XXXXXX)
db="$dir/kds.db"
log="$dir/server.log"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo stopped; server log: $log"
}
trap cleanup EXIT INT TERM

echo 'demo-cashier' | build/kds-server --db "$db" useradd kasir1 --role cashier --outlet 1 >/dev/null
echo 'demo-kitchen' | build/kds-server --db "$db" useradd dapur1 --role kitchen --outlet 1 >/dev/null
cashier=$(build/kds-server --db "$db" token kasir1 | tail -n 1)
kitchen=$(build/kds-server --db "$db" token dapur1 | tail -n 1)

build/kds-server --port "$port" --db "$db" --demo >"$log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "the server did not start:"; cat "$log"; exit 1; }

# Sample orders every few seconds, as a cashier's POS would post them.
(
  notes=("" "" "no onion" "extra saus" "" "take away")
  while sleep $((3 + RANDOM % 4)); do
    n=$((1 + RANDOM % 3)); items=""
    for _ in $(seq 1 $n); do
      items+="{\"product_id\":$((1 + RANDOM % 8)),\"qty\":$((1 + RANDOM % 3))},"
    done
    note=${notes[$((RANDOM % ${#notes[@]}))]}
    curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/orders" -H "Authorization: Bearer $cashier" \
      -H 'Content-Type: application/json' \
      -d "{\"payment_method\":\"CASH\",\"items\":[${items%,}],\"note\":\"$note\"}" || true
  done
) &
pids+=($!)

cat <<MSG
kds-server on http://127.0.0.1:$port   (browser: http://127.0.0.1:$port/websocket-test.html)
database $db; cashier token: $cashier
more tokens: build/kds-server --db $db token kasir1     (q in the display stops the demo)
MSG
sleep 3
# The display draws UTF-8 (box lines, names): make sure the locale says so.
case "${LC_ALL:-${LANG:-}}" in *UTF-8*|*utf8*) ;; *) export LANG=C.UTF-8 ;; esac
build/kds-tui --server "http://127.0.0.1:$port" --token "$kitchen"
