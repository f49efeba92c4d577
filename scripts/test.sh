#!/usr/bin/env bash
# Builds and runs every test: a warnings-as-errors build and an AddressSanitizer+UBSan
# build, each running the whole ctest suite (unit, integration, protocol, TUI, bench smoke).
# Usage: scripts/test.sh        (installs what is missing first)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --tests
# The Node reference: a peer for the differential REST test (skipped if it cannot be built).
scripts/node-ref.sh || echo "test: the Node reference could not be installed; its differential test will skip"
jobs=$(nproc 2>/dev/null || echo 2)
status=0

# Style: the C sources are formatted as .clang-format says. A check, never a rewrite:
# `clang-format -i FILE` fixes what it names.
if [ -d .git ]; then
  mapfile -t sources < <(git ls-files '*.c' '*.h')
else
  mapfile -t sources < <(find server shared kds-tui tests -name '*.[ch]' -not -path '*/node_modules/*')
fi
echo "== style: clang-format on ${#sources[@]} files"
clang-format --dry-run -Werror "${sources[@]}" || { echo "test: run clang-format -i on the files above" >&2; status=1; }

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKDS_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan -DKDS_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests: AddressSanitizer + UBSan build"
(cd build-asan && ctest --output-on-failure -j1) || status=1
echo "== tests: release build"
(cd build && ctest --output-on-failure -j1) || status=1

# Fuzz smoke: each libFuzzer target of tests/fuzz for KDS_FUZZ_SECONDS (25) s, with ASan and
# UBSan; any finding fails. scripts/fuzz.sh runs them for longer. clang comes from deps.sh.
command -v clang >/dev/null || { echo "test: clang missing (scripts/deps.sh --tests installs it)" >&2; exit 1; }
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DKDS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKDS_WERROR=ON -DKDS_FUZZ_SECONDS="${KDS_FUZZ_SECONDS:-25}" >/dev/null
cmake --build build-fuzz -j"$jobs" --target kds_fuzz
echo "== tests: fuzz (libFuzzer)"
(cd build-fuzz && ctest -L fuzz --no-tests=error -V -j1) || status=1
exit $status
