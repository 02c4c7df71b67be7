#!/usr/bin/env bash
# A real single-node SLURM on this machine, for CI and for tests that need a
# batch scheduler (dask-jobqueue's SLURMCluster).
#
#   bash tests/slurm/cluster.sh start    install (if missing), configure, start, check with srun
#   bash tests/slurm/cluster.sh stop     cancel all jobs, stop slurmd, slurmctld, munged
#   bash tests/slurm/cluster.sh status   exit 0 if SLURM is up and runs jobs, else 1
#
# Must run as root. systemd is not PID 1 on these machines, so the daemons are
# started directly (they daemonize themselves) and stopped through pid files.
# `start` is idempotent: when SLURM is already up it only says so.
#
# Environment (all optional):
#   GRIDFOLD_SLURM_CPUS        CPUs the node offers (default: nproc). May exceed the
#                              real count: SlurmdParameters=config_overrides lets it.
#   GRIDFOLD_SLURM_TIMEOUT     seconds to wait for the node to become idle (default 60)
set -euo pipefail

NODE="$(hostname -s)"
CPUS="${GRIDFOLD_SLURM_CPUS:-$(nproc)}"
WAIT="${GRIDFOLD_SLURM_TIMEOUT:-60}"

CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
CTLD_PID="$RUN_DIR/slurmctld.pid"
SLURMD_PID="$RUN_DIR/slurmd.pid"
MUNGE_KEY=/etc/munge/munge.key
MUNGE_PID=/run/munge/munged.pid
LOCK=/run/gridfold-slurm.lock

log() { echo "cluster.sh: $*" >&2; }

dump_logs() {
    local f
    for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" /var/log/munge/munged.log; do
        if [[ -f "$f" ]]; then
            echo "----- last 30 lines of $f -----" >&2
            tail -n 30 "$f" >&2 || true
        else
            echo "----- $f: absent -----" >&2
        fi
    done
}

DUMPED=0
die() {
    log "ERROR: $*"
    dump_logs
    DUMPED=1
    exit 1
}

# Process $1 is running command $2: guards against reused pids, and counts a
# zombie as gone (PID 1 here is not an init and reaps orphans only lazily).
running() {
    local pid="$1" comm="$2" stat
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# A pid file names a running process of the given command (not a stale file).
alive() {
    local file="$1" comm="$2" pid
    [[ -s "$file" ]] || return 1
    pid="$(<"$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    running "$pid" "$comm"
}

# SIGTERM the process behind a pid file, wait up to $3 s, then SIGKILL.
stop_pidfile() {
    local file="$1" comm="$2" grace="${3:-15}" pid i
    if ! alive "$file" "$comm"; then
        rm -f "$file"
        return 0
    fi
    pid="$(<"$file")"
    log "stopping $comm (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 5; i++)); do
        running "$pid" "$comm" || break
        sleep 0.2
    done
    if running "$pid" "$comm"; then
        log "$comm did not stop in ${grace}s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$file"
}

# One start/stop at a time. The daemons are started with fd 9 closed (9>&-):
# munged does not close inherited fds and would otherwise hold the lock forever.
take_lock() {
    exec 9>"$LOCK"
    flock -w 300 9 || die "another cluster.sh holds $LOCK for 300 s"
}

have() { command -v "$1" >/dev/null 2>&1; }

munge_ok() { have munge && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

# The node's State= field, e.g. IDLE, MIXED, DOWN*+NOT_RESPONDING, IDLE+DRAIN.
node_state() {
    scontrol show node "$NODE" -o 2>/dev/null | sed -n 's/.* State=\([^ ]*\).*/\1/p'
}

# Usable: responding (no '*'), not down, drained, failing, rebooting or unknown.
state_usable() {
    local s="$1"
    [[ -n "$s" && "$s" != *'*'* ]] || return 1
    [[ "$s" =~ (DOWN|DRAIN|FAIL|NOT_RESPONDING|UNKNOWN|INVAL|FUTURE|MAINT|REBOOT|POWER) ]] && return 1
    [[ "$s" =~ ^(IDLE|MIXED|ALLOCATED|COMPLETING) ]]
}

ctld_ok() { have scontrol && timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }

# Up = munge works, slurmctld answers, the node is usable, and (when the node
# is idle) a real one-task job runs. A busy node (MIXED/ALLOCATED) is counted as
# up without the srun, which would otherwise queue behind the running jobs.
is_up() {
    # Daemons first: an srun against a dead slurmd leaves a job COMPLETING for a minute.
    alive "$CTLD_PID" slurmctld && alive "$SLURMD_PID" slurmd || return 1
    munge_ok || return 1
    ctld_ok || return 1
    local s
    s="$(node_state)"
    state_usable "$s" || return 1
    if [[ "$s" == IDLE* ]]; then
        timeout 60 srun --immediate=30 --chdir=/tmp -N1 -n1 -t 1 true >/dev/null 2>&1 || return 1
    fi
    return 0
}

install_packages() {
    local p missing=()
    # slurm-wlm is a metapackage for slurmctld + slurmd + slurm-client (srun, sinfo...).
    for p in slurm-wlm slurmctld slurmd slurm-client munge; do
        [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" == installed ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # --no-install-recommends: 9 packages instead of ~43 (no MPI, no X libs).
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null || die "apt-get update failed"
    apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends \
        slurm-wlm munge >/dev/null || die "apt-get install slurm-wlm munge failed"
}

start_munge() {
    if munge_ok; then
        return 0
    fi
    install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 0755 /run/munge   # /run is a tmpfs: recreate each boot
    if [[ ! -s "$MUNGE_KEY" ]]; then
        log "creating $MUNGE_KEY"
        if have mungekey; then
            mungekey --create --keyfile="$MUNGE_KEY" --force
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
    fi
    # munged refuses a key that is readable by others or not owned by its user.
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
    stop_pidfile "$MUNGE_PID" munged 5   # a stale or wedged one
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged 9>&- || die "munged failed to start"
    local i
    for ((i = 0; i < 50; i++)); do
        munge_ok && return 0
        sleep 0.2
    done
    die "munged started but 'munge -n | unmunge' does not work"
}

write_conf() {
    local mem tmp
    # RealMemory must be set: with CR_Core_Memory a job's --mem (SLURMCluster
    # writes --mem=2G for memory="2GB") is checked against it, and the default
    # (1 MB) makes every such job unschedulable. Keep 512 MB back for the OS.
    mem="$(free -m | awk '/^Mem:/ {print $2}')"
    mem=$((mem > 1024 ? mem - 512 : mem))
    install -d -m 0755 "$CONF_DIR" "$LOG_DIR" "$RUN_DIR" /var/spool/slurmctld /var/spool/slurmd
    tmp="$(mktemp "$CONF_DIR/.slurm.conf.XXXXXX")"
    cat >"$tmp" <<EOF
# Written by gridfold tests/slurm/cluster.sh: single-node SLURM for CI. Overwritten on start.
ClusterName=gridfold
# NodeAddr/127.0.0.1: no dependence on the host name resolving.
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups: the machine has no systemd and jobs run as root anyway.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
# No mail on this machine (silences "Configured MailProg is invalid").
MailProg=/bin/true
# Cores and memory are consumable, so two 1-core/2 GB jobs run side by side and
# a job's --mem is honoured when scheduling (not enforced: no cgroups).
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# A job without --mem gets 1 GB per CPU, not the whole node.
DefMemPerCPU=1024
# Trust the CPUs/RealMemory below even if they differ from what slurmd detects.
SlurmdParameters=config_overrides
# A node that was DOWN (e.g. slurmd stopped first) comes back when slurmd registers.
ReturnToService=2
# Fast teardown: SIGKILL 5 s after SIGTERM on scancel/timeout.
KillWait=5
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$tmp"
    if [[ -f "$CONF" ]] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
        return 1 # unchanged
    fi
    mv -f "$tmp" "$CONF"
    log "wrote $CONF (node $NODE, CPUs=$CPUS, RealMemory=$mem)"
    return 0
}

on_start_exit() {
    local rc=$?
    if ((rc && !DUMPED)); then
        log "ERROR: start failed (exit $rc)"
        dump_logs
    fi
}

cmd_start() {
    [[ $EUID -eq 0 ]] || die "must run as root"
    take_lock
    # Any failure, also one that set -e catches, ends with the logs printed.
    trap on_start_exit EXIT
    [[ "$CPUS" =~ ^[1-9][0-9]*$ ]] || die "GRIDFOLD_SLURM_CPUS must be a positive integer, not '$CPUS'"
    local t0=$SECONDS changed=0
    install_packages
    write_conf && changed=1

    if ((!changed)) && is_up; then
        log "SLURM already up (node $NODE: $(node_state))"
        return 0
    fi

    start_munge
    # A changed config (new host name, CPU count, script edit) needs fresh daemons.
    if ((changed)); then
        stop_pidfile "$SLURMD_PID" slurmd
        stop_pidfile "$CTLD_PID" slurmctld
    fi

    if ! alive "$CTLD_PID" slurmctld; then
        log "starting slurmctld"
        # -i: ignore unreadable state files rather than refuse to start.
        slurmctld -i 9>&- || die "slurmctld failed to start"
    fi
    local i
    for ((i = 0; i < WAIT * 2; i++)); do
        ctld_ok && break
        # It daemonizes and writes its pid file at once; gone after 2 s = it died.
        ((i < 4)) || alive "$CTLD_PID" slurmctld || die "slurmctld exited"
        sleep 0.5
    done
    ctld_ok || die "slurmctld does not answer 'scontrol ping' after ${WAIT}s"

    if ! alive "$SLURMD_PID" slurmd; then
        log "starting slurmd"
        slurmd 9>&- || die "slurmd failed to start"
    fi

    local s resumed=0
    for ((i = 0; i < WAIT * 2; i++)); do
        s="$(node_state)"
        state_usable "$s" && break
        # Responding but DOWN/DRAIN from an earlier run (e.g. "Not responding",
        # "Kill task failed"): put it back in service once.
        if ((!resumed)) && [[ -n "$s" && "$s" != *'*'* && "$s" =~ (DOWN|DRAIN) ]]; then
            log "node state $s: resuming it"
            scontrol update NodeName="$NODE" State=RESUME || true
            resumed=1
        fi
        ((i < 4)) || alive "$SLURMD_PID" slurmd || die "slurmd exited (node state: ${s:-?})"
        sleep 0.5
    done
    state_usable "$s" || die "node $NODE not idle after ${WAIT}s (state: ${s:-?}; $(scontrol show node "$NODE" -o 2>/dev/null | grep -o 'Reason=.*' || true))"

    local out
    # Bounded: a job left COMPLETING by an earlier run can hold the node for ~60 s.
    out="$(timeout $((WAIT + 60)) srun --chdir=/tmp -N1 -n1 -t 1 hostname 2>&1)" \
        || die "check 'srun -N1 -n1 hostname' failed: $out"
    log "SLURM up in $((SECONDS - t0))s: srun ran on $out (node $NODE: $(node_state))"
}

cmd_stop() {
    [[ $EUID -eq 0 ]] || die "must run as root"
    take_lock

    local i jobs
    if alive "$CTLD_PID" slurmctld && ctld_ok; then
        jobs="$(squeue -h -o %A 2>/dev/null || true)"
        if [[ -n "$jobs" ]]; then
            log "cancelling jobs: ${jobs//$'\n'/ }"
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            # Let slurmd deliver the signals (KillWait=5) before it goes away.
            for ((i = 0; i < 60; i++)); do
                [[ -z "$(squeue -h -o %A 2>/dev/null || true)" ]] && break
                sleep 0.5
            done
        fi
    fi
    # slurmd before slurmctld, so the controller does not see a dead node first
    # (ReturnToService=2 copes either way).
    stop_pidfile "$SLURMD_PID" slurmd
    stop_pidfile "$CTLD_PID" slurmctld
    stop_pidfile "$MUNGE_PID" munged 5
    log "stopped"
}

cmd_status() {
    if have srun && is_up; then
        echo "up: node $NODE $(node_state)"
        return 0
    fi
    echo "down"
    return 1
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: bash $0 {start|stop|status}" >&2
        exit 2
        ;;
esac
