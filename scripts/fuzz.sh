#!/usr/bin/env bash
# Fuzzes the protocol codecs and parsers with libFuzzer (tests/fuzz/README.md): configures
# build-fuzz/ with clang and KDS_FUZZ=ON, builds the targets, runs each for SECONDS, then
# merges the inputs that found new coverage into a work corpus kept in build-fuzz/corpus/
# (the repository's seed corpus is only read), and prints per target the executions,
# exec/s, coverage (cov) and features (ft). Findings (crash, leak, UBSan, timeout, OOM) go
# to build-fuzz/findings/; the exit status is non-zero if there are any.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default 300 s each, every fuzz_* target)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=300
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

# libFuzzer comes with clang's compiler-rt (Debian: clang, libclang-rt-14-dev).
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not found (Debian packages: clang libclang-rt-14-dev)" >&2
  exit 2
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
  cat "$probe/err" >&2
  echo "fuzz: clang cannot link libFuzzer (Debian package: libclang-rt-14-dev)" >&2
  exit 2
fi

build=$root/build-fuzz
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DKDS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/findings"
summary=()
failed=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/$t
  seeds=$root/tests/fuzz/corpus/$t
  corpus=$build/corpus/$t
  run=$build/fuzz-run/$t
  log=$build/fuzz-run/$t.log
  rm -rf "$run"
  mkdir -p "$corpus" "$run"
  echo "== fuzz: $t for ${seconds}s (log: $log)"
  status=0
  # New inputs land in $run (the first directory); the work corpus and the seeds are read.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/findings/$t-" "$run" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
  # Keep only what adds coverage to the work corpus.
  "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "$corpus" "$run" >"$log.merge" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  files=$(find "$corpus" -type f | wc -l)
  if [ $status -ne 0 ]; then
    failed=1
    grep -E 'ERROR|runtime error|invariant broken|SUMMARY|^ *#[0-9]+ 0x.* in ' "$log" | head -25 || true
    result="FINDING (status $status): $(ls "$build/findings/$t-"* 2>/dev/null | tr '\n' ' ')"
  else
    result=ok
  fi
  summary+=("$(printf '%-11s %12s execs %8s exec/s  cov %5s  ft %6s  corpus %5s  %s' \
    "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$files" "$result")")
done
echo "== fuzz summary (${seconds}s per target; work corpus in build-fuzz/corpus/)"
printf '%s\n' "${summary[@]}"
exit $failed
