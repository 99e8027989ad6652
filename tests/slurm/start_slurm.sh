#!/usr/bin/env bash
# Start a real one-node Slurm on this machine for the SLURM tests (root, Debian).
# Installs slurm-wlm and munge if missing, writes slurm.conf into $1 (default /tmp/remc-slurm),
# starts munged, slurmctld and slurmd, waits until the node is idle, and prints the
# SLURM_CONF path to export.
set -euo pipefail
DIR=${1:-/tmp/remc-slurm}
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
mkdir -p "$DIR"/state "$DIR"/spool /run/munge /var/log/munge /var/lib/munge /etc/munge
test -s /etc/munge/munge.key || dd if=/dev/urandom of=/etc/munge/munge.key bs=1k count=1 2>/dev/null
chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
munge -n | unmunge >/dev/null
cpus=$(nproc)
cat > "$DIR/slurm.conf" <<CONF
ClusterName=remc
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
AuthInfo=cred_expire=15
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
KillWait=30
NodeName=localhost CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$DIR/slurm.conf"
pkill -x slurmctld 2>/dev/null || true
pkill -x slurmd 2>/dev/null || true
sleep 1
slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qx idle; then
        echo "$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
echo "slurm did not come up; see $DIR/*.log" >&2
exit 1
