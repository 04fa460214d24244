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

.venv/bin/python bench/pipeline.py "$@"

# Scale-out: 1, 2, 4 worker processes on PostgreSQL + Redis against embedded SQLite.
if command -v redis-server >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 >/dev/null 2>&1; then
    .venv/bin/python bench/scale.py
    .venv/bin/python bench/chaos.py  # the fault matrix; exits 1 when a row misses a target
else
    echo "bench/scale.py skipped: it needs PostgreSQL on 127.0.0.1:5432 and redis-server"
fi
