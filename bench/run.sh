#!/usr/bin/env bash
# `make bench`: every benchmark issue 15's targets need, then their table (bench/report.py) in
# bench/results/targets.txt. Each script also appends its own output to bench/results/.
#
#   bench/run.sh [--quick] [--all] [--no-postgres] [--no-memory] [--py-spy PATH | --no-profile]
#
#   --quick        short loads (about 8 minutes instead of about 22): to check the scripts, not to quote
#   --all          also the benchmarks that measure no target (servers, delivery drain, HTTP clients,
#                  pre-auth, slow clients, list paging, webhook isolation)
#   --no-postgres  skip the PostgreSQL runs (they use $MYCPAAS_TEST_DATABASE_URL, default
#                  postgresql://postgres@127.0.0.1:5432/postgres, and are skipped if it does not answer)
#   --no-memory    skip the 10-minute memory run (bench/soak.py)
#   --py-spy PATH  the py-spy for the closing profile (default /tmp/pyspy/bin/py-spy; skipped if absent)
#
# The code measured is this tree's src/ (PYTHONPATH), whatever the virtualenv's editable install points at.
# Every target's line carries the load average when it was measured; on a shared machine quote them with it.
# Exit status 1 if a script failed (the others still run, and the table shows its targets as not measured);
# a target missed is a result, not a failure of the run.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }

quick=0 all=0 postgres=1 memory=1 py_spy=/tmp/pyspy/bin/py-spy
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --all) all=1 ;;
    --no-postgres) postgres=0 ;;
    --no-memory) memory=0 ;;
    --py-spy) py_spy="$2"; shift ;;
    --no-profile) py_spy="" ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export MYCPAAS_BENCH_RUN="${MYCPAAS_BENCH_RUN:-$(date -u +%Y%m%dT%H%M%SZ)$([ $quick = 1 ] && echo -quick)}"
PY=.venv/bin/python
failed=()

step() {
  echo "== $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg): $*"
  "$PY" "$@" || { echo "!! failed ($?): $*" >&2; failed+=("$*"); }
}

if [ $postgres = 1 ]; then
  export MYCPAAS_TEST_DATABASE_URL="${MYCPAAS_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
  if ! psql "$MYCPAAS_TEST_DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; then
    echo "PostgreSQL at \$MYCPAAS_TEST_DATABASE_URL does not answer: its targets will show as not measured" >&2
    postgres=0
  fi
fi

if [ $quick = 1 ]; then
  create=(--duration 5 --rounds 1) e2e=(--seconds 15) hooks=(--seconds 2)
  soak=(--minutes 3 --warmup-minutes 1 --sample-seconds 10) profile=(--seconds 5)
else
  # webhooks.py: 4 drains per database (the median is the result). With 2, the SQLite ratio of one tree
  # ranged 44-53% from run to run (bench/results/webhooks.txt, 2026-12-07), around its 50% goal.
  create=(--duration 10 --rounds 2) e2e=(--seconds 60) hooks=(--seconds 4 --rounds 4)
  soak=(--minutes 10 --warmup-minutes 2 --sample-seconds 15) profile=(--seconds 20)
fi
lists=(--no-lists) isolation=(--skip-isolation)
[ $all = 1 ] && lists=() isolation=()
# Options that smpp_e2e.py's bare submit loop and webhooks.py's bare signed-POST loop bring (issue 15): used
# when the script has them, so that this file runs the scripts of before and after those changes alike.
supports() { "$PY" "$1" --help 2>/dev/null | grep -q -- "$2"; }
if [ $quick = 1 ]; then
  supports bench/smpp_e2e.py --baseline-seconds && e2e+=(--baseline-seconds 5)
  supports bench/webhooks.py --messages && hooks+=(--messages 1500)
fi

echo "# run $MYCPAAS_BENCH_RUN, commit $(git rev-parse --short HEAD), load $(cat /proc/loadavg)"
step bench/http_create.py "${create[@]}" "${lists[@]}"
[ $postgres = 1 ] && step bench/http_create.py --postgres --worker off "${create[@]}" --no-lists
step bench/smpp_e2e.py "${e2e[@]}"
step bench/webhooks.py "${hooks[@]}" "${isolation[@]}"
[ $postgres = 1 ] && step bench/webhooks.py --postgres "${hooks[@]}" "${isolation[@]}"
# The memory target's mixed load: creates with callbacks through the SMPP simulator, fetches, lists and the
# dashboard at 50 requests/s; the bad clients are bench/soak.py's own question (run it without the flag).
[ $memory = 1 ] && step bench/soak.py "${soak[@]}" --rate 50 --no-bad-clients --output bench/results/memory.txt
if [ $all = 1 ]; then
  step bench/servers.py  # add --hypercorn DIR to compare hypercorn too (bench/README.md)
  step bench/delivery_drain.py
  step bench/http_clients.py
  step bench/preauth.py
  step bench/slow_clients.py
fi
if [ -n "$py_spy" ] && [ -x "$py_spy" ]; then
  step bench/profile.py --py-spy "$py_spy" "${profile[@]}"
else
  echo "no profile: py-spy not found at '${py_spy}' (--py-spy PATH; bench/README.md)" >&2
fi

echo "== targets of run $MYCPAAS_BENCH_RUN"
"$PY" bench/report.py --run "$MYCPAAS_BENCH_RUN"
if [ ${#failed[@]} -gt 0 ]; then
  printf '!! failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
exit 0
