#!/usr/bin/env bash
# Stop the single-node cluster started by workflow/slurm/start-cluster.sh: slurmctld and slurmd
# by their pid files, then munged by its own if
# start-cluster.sh started it. Only daemons that script's config names are stopped.
set -euo pipefail

STATE=${GENVID_SLURM_DIR:-/var/lib/genvid-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# Written by genvid workflow/slurm/start-cluster.sh"

if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    echo "stop-cluster: $CONF was not written by start-cluster.sh; leaving that cluster alone" >&2
    exit 1
fi

stop() {  # stop <name> <pidfile>: SIGTERM, then wait up to 10 s
    local name=$1 pidfile=$2 pid
    [ -s "$pidfile" ] || { echo "stop-cluster: $name not running (no $pidfile)"; return 0; }
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { echo "stop-cluster: $name ($pid) did not stop" >&2; return 1; }
        echo "stop-cluster: stopped $name ($pid)"
    else
        echo "stop-cluster: $name not running (stale $pidfile)"
    fi
    rm -f "$pidfile"
}

stop slurmd "$STATE/slurmd.pid"
stop slurmctld "$STATE/slurmctld.pid"
if [ -e "$STATE/munged.ours" ]; then
    stop munged /run/munge/munged.pid
    rm -f "$STATE/munged.ours"
else
    echo "stop-cluster: munged was not started by start-cluster.sh; left running"
fi
