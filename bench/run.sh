#!/usr/bin/env bash
# sendpool benchmarks: the full pipeline against Postfix's smtp-sink, beside smtp-source.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v smtp-sink >/dev/null 2>&1 && [ ! -x /usr/sbin/smtp-sink ]; then
    echo "installing Postfix's smtp-sink and smtp-source (the postfix daemon is not started)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    # policy-rc.d exit 101 keeps the package from starting the daemon.
    added_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    $SUDO apt-get update -qq
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postfix >/dev/null
    [ -z "$added_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi

# Every bench prints its figures as JSON lines; they are gathered here for the closing table.
# BENCH_SIZES (launch and import) and BENCH_READ_SIZES (reads) pick the sizes: 10 M rows take
# a while, and several GB of disk.
mkdir -p .venv/bench
results=.venv/bench/results.jsonl
: > "$results"
bench() { .venv/bin/python "$@" | tee -a "$results"; }

have_services=""
if command -v redis-server >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 >/dev/null 2>&1; then
    have_services=1
fi

bench bench/pipeline.py --launch 0 "$@"
if [ -n "$have_services" ]; then
    bench bench/launch_rss.py --sizes "${BENCH_SIZES:-100k,1M,10M}" --db sqlite,postgresql
    bench bench/reads.py --sizes "${BENCH_READ_SIZES:-1000000,10000000}"
    bench bench/row_sizes.py
    # Scale-out: 1, 2, 4 worker processes on PostgreSQL + Redis against embedded SQLite.
    .venv/bin/python bench/scale.py
    .venv/bin/python bench/chaos.py || chaos_missed=1  # the fault matrix: 1 when a row misses
else
    bench bench/launch_rss.py --sizes "${BENCH_SIZES:-100k,1M,10M}" --db sqlite
    bench bench/reads.py --db sqlite --sizes "${BENCH_READ_SIZES:-1000000}"
    echo "PostgreSQL benches skipped: they need PostgreSQL on 127.0.0.1:5432 and redis-server"
fi

.venv/bin/python bench/table.py "$results"
exit "${chaos_missed:-0}"
