#!/usr/bin/env bash
# compare.sh: kds-server (C) against the Node reference (Express + socket.io + better-sqlite3)
# on this machine, in one session (issue 5, item 2).
#
#   tests/bench/compare.sh [--rounds N] [--duration S] [--quick] [--scenarios a,b,...]
#                          [--out DIR] [--no-build] [--server-cpu N] [--load-cpu N]
#                          [--baseline BIN [--baseline-name NAME]]
#
# Each scenario runs both servers alternately (round 1: C then Node, round 2: Node then C,
# ...; at least 3 rounds), each run on a fresh database, the server pinned to one core
# (taskset --server-cpu, default 0) and kds-bench to the other (--load-cpu, default 1).
# One extra C/C pair per scenario gives the A/A noise floor. The summary prints C/Node
# ratios (median of the per-round ratios, with their min-max spread) and writes
# summary.md and every run's JSON to the output directory.
#
# Scenarios (names for --scenarios):
#   post-c1 post-c16 post-c64            durable POSTs, closed loop at concurrency 1/16/64, 0 listeners
#   post-c1-l1000 post-c16-l1000 post-c64-l1000   the same with 1,000 listeners connected
#   fanout-100 fanout-1000 fanout-10000  new-order to 100/1,000/10,000 clients (open loop)
#   idle-1000 idle-10000                 server RSS per idle WebSocket after a full ping cycle
#   wrk-c64                              durable POSTs of a 5-line order under wrk (64 connections,
#                                        one thread; tests/bench/wrk-post.lua), not in the default list
# CPU per delivered message comes from every fan-out run (--server-pid, /proc).
# --baseline BIN puts another kds-server build (an older commit's, say) in the Node reference's
# place: the table is then this build against that one ("before"/"after" of a change), with
# the same alternation and A/A pair; --baseline-name names it in the table (default "base").
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

ROUNDS=3
DUR=10
QUICK=0
BUILD=1
SERVER_CPU=0
LOAD_CPU=1
SCENARIOS="post-c1,post-c16,post-c64,post-c1-l1000,post-c16-l1000,post-c64-l1000,fanout-100,fanout-1000,fanout-10000,idle-1000,idle-10000"
OUT=""
BASELINE=""
BASELINE_NAME=base
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --load-cpu) LOAD_CPU=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --baseline-name) BASELINE_NAME=$2; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$QUICK" = 1 ]; then
  DUR=3
  [ "$ROUNDS" -gt 3 ] || ROUNDS=3
fi
if [ "$ROUNDS" -lt 3 ]; then echo "compare.sh: at least 3 rounds" >&2; exit 2; fi
OUT=${OUT:-build-bench/compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# ---- binaries: a release build of ours, the Node reference -----------------------------------
BUILD_DIR=$ROOT/build-bench
if [ "$BUILD" = 1 ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j2 --target kds-server kds-bench >/dev/null
  [ -n "$BASELINE" ] || scripts/node-ref.sh >/dev/null
fi
C_SERVER=$BUILD_DIR/kds-server
BENCH=$BUILD_DIR/kds-bench
NODE_REF=$ROOT/build/node-reference/server.js
OTHER=$NODE_REF
if [ -n "$BASELINE" ]; then
  OTHER=$(cd "$(dirname "$BASELINE")" && pwd)/$(basename "$BASELINE")
  export KDS_COMPARE_OTHER=$BASELINE_NAME # compare-summary.js names the columns after it
fi
for f in "$C_SERVER" "$BENCH" "$OTHER"; do
  [ -e "$f" ] || { echo "compare.sh: missing $f (drop --no-build, or run scripts/node-ref.sh)" >&2; exit 2; }
done
command -v taskset >/dev/null || { echo "compare.sh: taskset (util-linux) is needed" >&2; exit 2; }
if [[ ",$SCENARIOS," == *,wrk-* ]] && ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi
ulimit -n "$(ulimit -Hn)"

server_cmd() { # target -> the server's argv prefix
  if [ "$1" = c ]; then echo "$C_SERVER"
  elif [ -n "$BASELINE" ]; then echo "$OTHER"
  else echo "node $NODE_REF"; fi
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

# start_server TARGET DIR PORT [extra server args...]: fresh database, users, tokens.
start_server() {
  local target=$1 dir=$2 port=$3
  shift 3
  local cmd
  cmd=$(server_cmd "$target")
  rm -rf "$dir" && mkdir -p "$dir"
  echo cashier-secret | $cmd --db "$dir/kds.db" useradd kasir1 --role cashier --outlet 1 >/dev/null
  echo kitchen-secret | $cmd --db "$dir/kds.db" useradd dapur1 --role kitchen --outlet 1 >/dev/null
  POST_TOKEN=$($cmd --db "$dir/kds.db" token kasir1 | tail -n 1)
  LISTEN_TOKEN=$($cmd --db "$dir/kds.db" token dapur1 | tail -n 1)
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CPU" $cmd --host 127.0.0.1 --port "$port" --db "$dir/kds.db" --demo \
    --order-rate 0 --log-level warn "$@" >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then sleep 0.3; return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "compare.sh: $target server did not start; see $dir/server.log" >&2
  return 1
}

# scenario NAME -> sets SERVER_ARGS and BENCH_ARGS
scenario() {
  SERVER_ARGS=()
  case "$1" in
    post-c1|post-c16|post-c64)
      local c=${1#post-c}
      BENCH_ARGS=(--clients 0 --concurrency "$c" --duration "$DUR" --warmup 1 --drain 5) ;;
    post-c1-l1000|post-c16-l1000|post-c64-l1000)
      local c=${1#post-c}; c=${c%-l1000}
      BENCH_ARGS=(--clients 1000 --concurrency "$c" --duration "$DUR" --warmup 1 --drain 20) ;;
    fanout-100) BENCH_ARGS=(--clients 100 --rate 50 --connections 4 --duration "$DUR" --warmup 1 --drain 20) ;;
    fanout-1000) BENCH_ARGS=(--clients 1000 --rate 10 --connections 4 --duration "$DUR" --warmup 1 --drain 30) ;;
    # 10,000 connects ramped at 20 per 10 ms: a faster ramp overflows the Node server's
    # accept backlog (connection resets), which would measure the ramp, not the fan-out
    fanout-10000) BENCH_ARGS=(--clients 10000 --ramp 20/10 --rate 1 --connections 2 --duration "$DUR" --warmup 1 --drain 60) ;;
    idle-1000|idle-10000)
      # a short ping cycle so that "after a full ping cycle" takes seconds, not minutes
      SERVER_ARGS=(--ping-interval 2000 --ping-timeout 2000)
      BENCH_ARGS=(--clients "${1#idle-}" --ramp 20/10 --idle 6 --drain 1) ;;
    wrk-c64) BENCH_ARGS=() ;;
    *) echo "compare.sh: unknown scenario $1" >&2; exit 2 ;;
  esac
}

# run_wrk PORT CONNECTIONS JSON: wrk against the server, its result written as kds-bench's JSON.
run_wrk() {
  local out
  out=$(KDS_WRK_TOKEN=$POST_TOKEN taskset -c "$LOAD_CPU" wrk -t1 -c"$2" -d"${DUR}s" --latency \
    -s "$ROOT/tests/bench/wrk-post.lua" "http://127.0.0.1:$1" 2>&1) || return 1
  echo "$out" | sed -n 's/^WRKJSON //p' >"$3"
  [ -s "$3" ] && node -e 'process.exit(require(process.argv[1]).results.errors ? 1 : 0)' "$3"
}

# run_one TARGET SCENARIO TAG: one server start, one kds-bench run, its JSON in $OUT.
run_one() {
  local target=$1 scen=$2 tag=$3 port dir json
  port=$(free_port)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/kds-compare.XXXXXX")
  json="$OUT/$scen.$tag.json"
  scenario "$scen"
  start_server "$target" "$dir" "$port" "${SERVER_ARGS[@]}" || { stop_server; return 1; }
  set +e
  if [ "${scen#wrk-}" != "$scen" ]; then
    run_wrk "$port" "${scen#wrk-c}" "$json"
  else
    taskset -c "$LOAD_CPU" "$BENCH" --url "http://127.0.0.1:$port" --token "$LISTEN_TOKEN" \
      --post-token "$POST_TOKEN" --server-pid "$SERVER_PID" --label "$scen/$tag" --quiet \
      --json "$json" "${BENCH_ARGS[@]}"
  fi
  local rc=$?
  set -e
  stop_server
  rm -rf "$dir"
  [ $rc -eq 0 ] || echo "  ($scen/$tag: kds-bench exit $rc: see $json)" >&2
  printf '  %-16s %-10s %s\n' "$scen" "$tag" "$(node -e '
    const r = require(process.argv[1]).results;
    const f = (x) => (x === undefined ? "-" : Number(x).toFixed(2));
    console.log(`post/s ${f(r.post_per_second)} p50 ${f(r.post_latency?.p50_ms)} ms p99 ${f(r.post_latency?.p99_ms)} ms | ` +
      `last-recipient p50 ${f(r.last_recipient_latency?.p50_ms)} p99 ${f(r.last_recipient_latency?.p99_ms)} ms | ` +
      `cpu/delivery ${f(r.server_cpu_us_per_delivery)} us | rss/conn ${f(r.server_rss_per_connection_kb)} kB` +
      (r.error ? ` | ERROR ${r.error}` : ""))' "$json" 2>/dev/null || echo '(no result)')"
}

echo "compare.sh: $ROUNDS rounds, ${DUR}s runs, server on CPU $SERVER_CPU, load on CPU $LOAD_CPU; results in $OUT"
"$BENCH" --url http://127.0.0.1:1 --clients 0 --json "$OUT/env.json" --quiet >/dev/null 2>&1 || true
IFS=, read -r -a SCEN_LIST <<<"$SCENARIOS"
for scen in "${SCEN_LIST[@]}"; do
  echo "== $scen"
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order="c node"; else order="node c"; fi
    for t in $order; do run_one "$t" "$scen" "$t.$r" || true; done
  done
  run_one c "$scen" "aa.1" || true
  run_one c "$scen" "aa.2" || true
done

node "$ROOT/tests/bench/compare-summary.js" "$OUT" "$ROUNDS" | tee "$OUT/summary.md"
