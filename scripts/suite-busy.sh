#!/usr/bin/env bash
# The whole suite N times in a row with one core kept busy by a CPU-bound loop (issue 14's evidence, recorded in
# docs/reliability.md). Run from the repository root after `make setup`: bash scripts/suite-busy.sh [N] [LOG_DIR]
set -uo pipefail
runs=${1:-5}
logs=${2:-$(mktemp -d)}
mkdir -p "$logs"
python3 -c "while True: pass" &
busy=$!
trap 'kill "$busy"' EXIT
echo "commit $(git rev-parse --short HEAD), logs in $logs, busy loop pid $busy"
failed=0
for i in $(seq "$runs"); do
  start=$(date +%s)
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  .venv/bin/python -m pytest -p no:cacheprovider > "$logs/run$i.log" 2>&1
  status=$?
  [ "$status" -eq 0 ] || failed=$((failed + 1))
  echo "run $i: exit $status, $(( $(date +%s) - start )) s, load $load_before → $(cut -d' ' -f1 /proc/loadavg):" \
       "$(tail -n 1 "$logs/run$i.log")"
done
echo "$failed of $runs runs failed"
[ "$failed" -eq 0 ]
