#!/usr/bin/env bash
# Sets up, builds and runs every test: unit tests (GoogleTest) and end-to-end tests (real AWS CLI
# and boto3 against a real groundcrewd, on SQLite and on PostgreSQL), then the unit tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then each fuzzer for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
# ccache: share compiled objects between checkouts in different folders (CI clones elsewhere).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

echo "== checked-in models match the installed botocore (skipped when its version differs)"
python3 tools/trim_model.py --check

echo "== release build and all tests"
cmake --preset release >/dev/null
cmake --build --preset release
# Two at a time: the e2e suites mostly wait on the network and the disk.
ctest --test-dir build --output-on-failure --timeout 600 -j2

echo "== sanitizer build (ASan + UBSan): unit tests, and the e2e suites against a sanitized server"
cmake --preset asan >/dev/null
cmake --build --preset asan --target unit_tests groundcrewd groundcrew groundcrew-agent
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -E 'postgres|debian' --timeout 900 -j2

echo "== fuzzers (${GC_FUZZ_SECONDS:-60} s each)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_form_parser fuzz_json_request
for f in build-fuzz/bin/fuzz_*; do
  mkdir -p "build-fuzz/corpus/$(basename "$f")"
  "$f" -max_total_time="${GC_FUZZ_SECONDS:-60}" -rss_limit_mb=2048 \
    "build-fuzz/corpus/$(basename "$f")" fuzz/seeds/"$(basename "$f")" 2>&1 | tail -3
done
echo "all tests passed"
