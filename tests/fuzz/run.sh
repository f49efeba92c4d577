#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from a temporary copy of its seed corpus (the
# repository's corpus is never written), as the ctest test fuzz/<target> does.
# Usage: tests/fuzz/run.sh FUZZER CORPUS_DIR SECONDS
# Exit status: 0 when the time ran out without a finding; non-zero on a crash, leak, UBSan
# report, timeout or out-of-memory (the reproducer is kept and its path printed).
set -uo pipefail
fuzzer=$1 corpus=$2 seconds=$3
name=$(basename "$fuzzer")
[ -x "$fuzzer" ] || { echo "fuzz: $fuzzer is not built" >&2; exit 2; }
[ -d "$corpus" ] || { echo "fuzz: no seed corpus $corpus" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/kds-fuzz-$name.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp -R "$corpus"/. "$work/corpus/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A fixed seed (KDS_FUZZ_SEED, default 1) makes the test command's short runs explore the same
# inputs on every machine, so a run that passed here does not fail at random elsewhere on an
# old, unrelated finding; scripts/fuzz.sh explores with random seeds (0).
"$fuzzer" -seed="${KDS_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
status=$?
# The summary libFuzzer prints last: "#N DONE cov: C ft: F corp: ... exec/s: E" and
# "Done N runs in S second(s)"; the whole log only when something was found.
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done [0-9]+ runs|^stat::' "$work/log"
if [ $status -ne 0 ] || ls "$work/artifacts"/* >/dev/null 2>&1; then
  tail -n 80 "$work/log"
  keep=${KDS_FUZZ_KEEP:-$PWD}/fuzz-findings-$name
  mkdir -p "$keep" && cp "$work/artifacts"/* "$keep/" 2>/dev/null
  echo "fuzz: $name FAILED (status $status); reproducer(s) in $keep:" >&2
  ls -l "$keep" >&2
  rm -rf "$work"
  exit 1
fi
rm -rf "$work"
echo "fuzz: $name ok"
