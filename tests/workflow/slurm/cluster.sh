#!/usr/bin/env bash
# A throwaway one-node SLURM on localhost with fake GPUs, for tests/workflow/test_slurm.py and
# for trying profiles/slurm by hand (Debian 12, root, no systemd; see docs/cluster.md). Needs
# Debian's slurm-wlm and munge: tests/system-packages.sh installs them (`make test` runs it).
#
#   cluster.sh start STATE    start munged (unless one answers), slurmctld, slurmd; wait until
#                             the node is idle; print the SLURM_CONF to export
#   cluster.sh stop STATE     cancel this cluster's jobs, stop exactly the daemons `start`
#                             started (by the pids it recorded under STATE), remove its
#                             /etc/slurm/slurm.conf
#
# The daemons read STATE/slurm.conf, and so can clients through SLURM_CONF; the same file is also
# copied to /etc/slurm/slurm.conf because the executor's job step strips SLURM_CONF from the
# environment of its inner `srun`, which then reads the default path. A slurm.conf already there
# that this script did not write is never overwritten: start fails instead.
#
# Node size (what the node advertises, whatever the machine has): LEUKOFLOW_SLURM_CPUS (16),
# LEUKOFLOW_SLURM_MEM_MB (64000), LEUKOFLOW_SLURM_GPUS (2, at most 2: /dev/null and /dev/zero
# stand in for the device files, and SLURM ignores a GPU entry without one).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CPUS="${LEUKOFLOW_SLURM_CPUS:-16}"
MEM_MB="${LEUKOFLOW_SLURM_MEM_MB:-64000}"
GPUS="${LEUKOFLOW_SLURM_GPUS:-2}"
FAKE_GPU_FILES=(/dev/null /dev/zero)
SYSTEM_CONF=/etc/slurm/slurm.conf
MARKER="# written by leukoflow tests/slurm/cluster.sh"

die() { echo "cluster.sh: $*" >&2; exit 1; }

# Start "$@" in its own session (so a Ctrl-C to the caller does not reach it) with output in
# STATE/NAME.out, and record its pid as ours. setsid execs in place (the child of a
# non-interactive shell leads no process group), so $! is the daemon itself.
start_daemon() {
    local name="$1"; shift
    setsid "$@" >"$STATE/$name.out" 2>&1 < /dev/null &
    echo $! > "$STATE/started.$name.pid"
}

alive() { [ -f "$STATE/started.$1.pid" ] && kill -0 "$(cat "$STATE/started.$1.pid")" 2>/dev/null; }

munge_answers() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_answers; then
        return 0  # a running munged (the machine's own, or left by the caller) serves us
    fi
    install -d -o munge -g munge -m 0700 /etc/munge
    if [ ! -s /etc/munge/munge.key ]; then
        head -c 1024 /dev/urandom > /etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    start_daemon munged setpriv --reuid=munge --regid=munge --clear-groups /usr/sbin/munged -F
    for _ in $(seq 50); do
        munge_answers && return 0
        alive munged || break
        sleep 0.2
    done
    die "munged did not answer; its output: $(tail -n 5 "$STATE/munged.out" 2>/dev/null)"
}

write_config() {
    [ "$GPUS" -ge 1 ] && [ "$GPUS" -le "${#FAKE_GPU_FILES[@]}" ] || die "LEUKOFLOW_SLURM_GPUS must be 1..${#FAKE_GPU_FILES[@]}"
    mkdir -p "$STATE/ctld" "$STATE/d"
    cp "$HERE/task_prolog.sh" "$STATE/task_prolog.sh"
    chmod 0755 "$STATE/task_prolog.sh"
    sed -e "s|@STATE@|$STATE|g" -e "s|@CPUS@|$CPUS|g" -e "s|@MEM_MB@|$MEM_MB|g" -e "s|@GPUS@|$GPUS|g" \
        "$HERE/slurm.conf.in" > "$STATE/slurm.conf"
    if [ -e "$SYSTEM_CONF" ] && ! grep -qxF "$MARKER" "$SYSTEM_CONF"; then
        die "$SYSTEM_CONF exists and was not written by this script: not overwriting a real cluster's configuration"
    fi
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    { echo "$MARKER"; cat "$STATE/slurm.conf"; } > "$SYSTEM_CONF"
    : > "$STATE/gres.conf"   # read from the folder that holds slurm.conf
    for ((i = 0; i < GPUS; i++)); do
        echo "Name=gpu File=${FAKE_GPU_FILES[$i]}" >> "$STATE/gres.conf"
    done
}

start_cluster() {
    command -v slurmctld >/dev/null || die "slurmctld not installed (run tests/system-packages.sh as root)"
    mkdir -p "$STATE"
    STATE="$(cd "$STATE" && pwd)"
    for name in slurmctld slurmd; do
        alive "$name" && die "$name from an earlier start is still running (pid $(cat "$STATE/started.$name.pid")); stop it first"
    done
    start_munge
    write_config
    export SLURM_CONF="$STATE/slurm.conf"
    start_daemon slurmctld /usr/sbin/slurmctld -D -c -f "$SLURM_CONF"
    for _ in $(seq 50); do
        scontrol ping 2>/dev/null | grep -q "is UP" && break
        alive slurmctld || die "slurmctld exited: $(tail -n 5 "$STATE/slurmctld.log" "$STATE/slurmctld.out" 2>/dev/null)"
        sleep 0.2
    done
    start_daemon slurmd /usr/sbin/slurmd -D -f "$SLURM_CONF"
    local state=""
    for _ in $(seq 150); do
        state="$(sinfo -h -N -o %T 2>/dev/null | head -n 1)"
        [ "$state" = idle ] && { echo "$SLURM_CONF"; return 0; }
        alive slurmd || die "slurmd exited: $(tail -n 5 "$STATE/slurmd.log" "$STATE/slurmd.out" 2>/dev/null)"
        sleep 0.2
    done
    die "node not idle after 30 s (state: '${state}'); see $STATE/slurmctld.log and $STATE/slurmd.log"
}

stop_cluster() {
    [ -d "$STATE" ] || return 0
    STATE="$(cd "$STATE" && pwd)"
    if alive slurmctld; then
        # Jobs first: their slurmstepd processes would outlive slurmd.
        SLURM_CONF="$STATE/slurm.conf" scancel --full --user "$(id -un)" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -z "$(SLURM_CONF="$STATE/slurm.conf" squeue -h -t RUNNING,COMPLETING 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    local name pid
    for name in slurmd slurmctld munged; do
        [ -f "$STATE/started.$name.pid" ] || continue
        pid="$(cat "$STATE/started.$name.pid")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        fi
        rm -f "$STATE/started.$name.pid"
    done
    if [ -f "$SYSTEM_CONF" ] && grep -qxF "$MARKER" "$SYSTEM_CONF"; then
        rm -f "$SYSTEM_CONF"
    fi
}

case "${1:-}" in
    start) [ -n "${2:-}" ] || die "usage: cluster.sh start STATE_DIR"; STATE="$2"; start_cluster ;;
    stop) [ -n "${2:-}" ] || die "usage: cluster.sh stop STATE_DIR"; STATE="$2"; stop_cluster ;;
    *) die "usage: cluster.sh start STATE_DIR | stop STATE_DIR" ;;
esac
