#!/usr/bin/env bash
# Start a single-node Slurm cluster on this machine (munge, slurmctld, slurmd), for running the
# DAG through `snakemake --executor slurm --profile workflow/profiles/slurm` (docs/cluster.md)
# and for tests/test_cluster.py. Needs root. Idempotent: daemons already up
# are left alone. Installs Debian's slurm-wlm and munge with apt-get when they are missing.
#
# The node is this machine as `slurmd -C` reports it (CPUs, sockets, memory). The config is
# cgroup-free (proctrack/linuxproc, task/none) so it also works in containers, with
# select/cons_tres scheduling cores and memory. No accounting daemon: job state is read with
# squeue, so finished jobs are kept for MinJobAge seconds.
#
# Files: /etc/slurm/slurm.conf (written only if absent or written by this script before),
# state and logs under $GENVID_SLURM_DIR (default /var/lib/genvid-slurm).
# Stop with workflow/slurm/stop-cluster.sh.
set -euo pipefail

STATE=${GENVID_SLURM_DIR:-/var/lib/genvid-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# Written by genvid workflow/slurm/start-cluster.sh"
PARTITION=${GENVID_SLURM_PARTITION:-genvid}

die() { echo "start-cluster: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it starts munged, slurmctld and slurmd)"

# 1. Install what is missing (Debian/Ubuntu: slurm-wlm 22.05 on bookworm).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v sbatch >/dev/null; then
    command -v apt-get >/dev/null || die "slurmctld/slurmd/munged missing and no apt-get to install them"
    echo "start-cluster: installing slurm-wlm and munge with apt-get"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi

# 2. munge: a key, its run directory, the daemon (as the munge user).
mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile /etc/munge/munge.key
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 0700 /etc/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged
    mkdir -p "$STATE" && touch "$STATE/munged.ours"   # stop-cluster.sh stops only a munged we started
    for _ in $(seq 1 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null || die "munged did not start (see /var/log/munge/munged.log)"
fi

# 3. slurm.conf for this one node.
NODE_LINE=$(slurmd -C | head -n 1)                     # NodeName=<host> CPUs=... RealMemory=...
NODE=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$NODE_LINE")
[ -n "$NODE" ] || die "could not read the node from 'slurmd -C': $NODE_LINE"
if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to overwrite a real cluster's config"
fi
mkdir -p "$STATE/ctld" "$STATE/d" "$STATE/log" /etc/slurm
tmp=$(mktemp "$CONF.XXXXXX")
cat >"$tmp" <<EOF
$MARKER: a single-node cluster on $NODE.
ClusterName=genvid
SlurmctldHost=$NODE
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# cgroup-free: works where /sys/fs/cgroup is read-only (containers).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Jobs run at the nice value of the sbatch that submitted them (nice snakemake ...).
PropagatePrioProcess=1
# No accounting database: snakemake-executor-plugin-slurm reads job states with squeue, which
# lists a finished job for MinJobAge seconds (its status checks come at most 180 s apart).
MinJobAge=600
$NODE_LINE State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
sed -i '/^UpTime=/d' "$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$CONF"

# 4. The daemons (each daemonises itself and writes its pid file).
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
alive "$STATE/slurmctld.pid" || slurmctld
alive "$STATE/slurmd.pid" || slurmd

# 5. Wait for the node to accept jobs.
for _ in $(seq 1 60); do
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n 1 || true)
    case "$state" in
        idle*|mix*|alloc*) break ;;
        down*|drain*|drng*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
case "$state" in
    idle*|mix*|alloc*) ;;
    *) die "node $NODE is '${state:-unknown}' after 60 s (logs: $STATE/log)" ;;
esac
echo "start-cluster: partition '$PARTITION' up on node $NODE ($(sed 's/ Boards.*RealMemory=/, RealMemory=/' <<<"$NODE_LINE" | cut -d' ' -f2-))"
sinfo
