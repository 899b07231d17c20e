#!/usr/bin/env bash
# Run the whole test suite N times in a row (default 20) and count the runs that failed.
#   bash bench/repeat_tests.sh 20      # as make test runs it: TEST_WORKERS=2 processes
# Prints one line per run and "runs N, failed F"; exits 1 when any run failed. The logs of
# failed runs are kept in $TMPDIR/exchange-repeat-*.log.
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
export EXCHANGE_TEST_PG_DSN="${EXCHANGE_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/test}"
export CI="${CI:-true}"
failed=0
for i in $(seq 1 "$runs"); do
  log="$(mktemp "${TMPDIR:-/tmp}/exchange-repeat-XXXXXX.log")"
  start=$(date +%s)
  if .venv/bin/pytest -q -n "${TEST_WORKERS:-2}" -p no:cacheprovider >"$log" 2>&1; then
    echo "run $i: passed in $(( $(date +%s) - start )) s ($(tail -1 "$log"))"
    rm -f "$log"
  else
    failed=$((failed + 1))
    echo "run $i: FAILED ($(tail -1 "$log")); log kept in $log"
  fi
done
echo "runs $runs, failed $failed"
[ "$failed" -eq 0 ]
