#!/usr/bin/env bash
# The Debian packages the test suite needs besides Python, installed once before pytest starts.
# `make test` runs this script; no test calls apt-get itself.
#
#   chromium           tests/workflow/test_report_browser.py            LEUKOFLOW_SKIP_BROWSER=1 skips it
#   slurm-wlm, munge   tests/workflow/test_slurm.py (the one-node run)  LEUKOFLOW_SKIP_SLURM=1 skips it
#
# Idempotent: only missing packages are installed, and nothing (not even `apt-get update`) runs
# when all are there. A lock held by another apt or dpkg run is waited on, up to
# LEUKOFLOW_APT_LOCK_WAIT seconds (600), instead of failing.
#
# As root with apt-get, a failed install fails this script, and so `make test`. Where a group
# cannot be had (not root, no apt-get; the SLURM test also needs root to start its daemons even
# when installed), the script says so on stderr and prints that group's skip variable on stdout
# ("LEUKOFLOW_SKIP_SLURM=1"), which `make test` hands to pytest: the test is then skipped with
# that reason. Run without these packages and without the variables, the two tests fail rather
# than skip, so a CI run cannot turn green by skipping them.
#
# Usage: tests/system-packages.sh      stdout: the skip variables to set (none when all is well)
set -euo pipefail

LOCK_WAIT="${LEUKOFLOW_APT_LOCK_WAIT:-600}"
CHROMIUM=/usr/bin/chromium
SLURM_TOOLS=(slurmctld slurmd sbatch squeue scontrol sinfo scancel)
MUNGE_TOOLS=(munged munge unmunge)

say() { echo "system-packages: $*" >&2; }

missing_tools() {  # prints the tools among "$@" not on PATH (nor in /usr/sbin)
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || echo "$tool"
    done
}

# apt-get with apt's lock waited on: DPkg::Lock::Timeout covers dpkg's lock (install); the lists
# lock of `apt-get update` is not covered by it in apt 2.6, so any "Could not get lock" failure is
# retried until the same deadline.
apt_get() {
    local deadline=$((SECONDS + LOCK_WAIT)) err told=""
    err="$(mktemp)"
    while true; do
        if DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$LOCK_WAIT" "$@" >/dev/null 2>"$err"; then
            rm -f "$err"
            return 0
        fi
        if grep -qiE "could not get lock|unable to acquire|is another process using it" "$err" \
            && [ "$SECONDS" -lt "$deadline" ]; then
            [ -n "$told" ] || say "apt is busy (another apt or dpkg run holds its lock); waiting up to ${LOCK_WAIT} s"
            told=1
            sleep 5
            continue
        fi
        cat "$err" >&2
        rm -f "$err"
        return 1
    done
}

packages=()   # to install
skips=()      # skip variables to print
wanted=()     # the tools each installed group must provide, checked after the install

if [ "${LEUKOFLOW_SKIP_BROWSER:-}" = 1 ]; then
    say "LEUKOFLOW_SKIP_BROWSER=1: the browser test is skipped; chromium not checked"
elif [ ! -x "$CHROMIUM" ]; then
    packages+=(chromium)
    wanted+=("$CHROMIUM")
fi

if [ "${LEUKOFLOW_SKIP_SLURM:-}" = 1 ]; then
    say "LEUKOFLOW_SKIP_SLURM=1: the SLURM test is skipped; slurm-wlm and munge not checked"
elif [ "$(id -u)" != 0 ]; then
    say "not root: the SLURM test (it starts munged, slurmctld and slurmd and writes" \
        "/etc/slurm/slurm.conf) is skipped: LEUKOFLOW_SKIP_SLURM=1"
    skips+=(LEUKOFLOW_SKIP_SLURM=1)
else
    [ -z "$(missing_tools "${SLURM_TOOLS[@]}")" ] || { packages+=(slurm-wlm); wanted+=("${SLURM_TOOLS[@]}"); }
    [ -z "$(missing_tools "${MUNGE_TOOLS[@]}")" ] || { packages+=(munge); wanted+=("${MUNGE_TOOLS[@]}"); }
fi

if [ "${#packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        why="not root"
        [ "$(id -u)" = 0 ] && why="no apt-get on this machine"
        if [[ " ${packages[*]} " == *" chromium "* ]]; then
            say "$CHROMIUM is missing and cannot be installed ($why): the browser test is skipped:" \
                "LEUKOFLOW_SKIP_BROWSER=1. Install Debian's chromium to run it."
            skips+=(LEUKOFLOW_SKIP_BROWSER=1)
        fi
        if [[ " ${packages[*]} " == *" slurm-wlm "* || " ${packages[*]} " == *" munge "* ]]; then
            say "slurm-wlm/munge are missing and cannot be installed ($why): the SLURM test is skipped:" \
                "LEUKOFLOW_SKIP_SLURM=1"
            skips+=(LEUKOFLOW_SKIP_SLURM=1)
        fi
    else
        say "installing ${packages[*]} with apt-get (once; a minute or two)"
        apt_get update -qq || { say "apt-get update failed"; exit 1; }
        apt_get install -y -qq "${packages[@]}" || { say "apt-get install ${packages[*]} failed"; exit 1; }
        for tool in "${wanted[@]}"; do
            if [ -n "$(missing_tools "$tool")" ]; then
                say "apt-get installed ${packages[*]} but $tool is still missing"
                exit 1
            fi
        done
        say "installed ${packages[*]}"
    fi
fi

echo "${skips[*]}"
