#!/usr/bin/env bash
# Stop the private SLURM cluster started by scripts/slurm-up.sh. Only processes
# named by the pid files in $SHIFTBENCH_SLURM_DIR/pids are signalled, and only if
# the pid still belongs to the expected program. Idempotent: exits 0 when
# nothing runs. State (job history, DB) is kept for the next slurm-up.sh.
set -euo pipefail

STATE=${SHIFTBENCH_SLURM_DIR:-/tmp/shiftbench-slurm}
PIDS=$STATE/pids
TIMEOUT=30

# pid_of <name> <program>: print the pid in $PIDS/<name>.pid if it is a live
# (non-zombie: this machine's init reaps orphans only every second or so) <program>.
pid_of() {
  local pid
  pid=$(cat "$PIDS/$1.pid" 2>/dev/null) && [[ -n $pid ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
  ! grep -qs '^State:.*zombie' "/proc/$pid/status" && echo "$pid"
}

# stop <name> <program>: SIGTERM it, wait up to $TIMEOUT s, then SIGKILL.
stop() {
  local pid
  if pid=$(pid_of "$1" "$2"); then
    echo "slurm-down: stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((TIMEOUT * 10))); do pid_of "$1" "$2" >/dev/null || break; sleep 0.1; done
    if pid_of "$1" "$2" >/dev/null; then
      echo "slurm-down: $1 ignored SIGTERM, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDS/$1.pid"
}

# Cancel jobs still in our cluster so that no slurmstepd/job outlives slurmd.
if pid_of slurmctld slurmctld >/dev/null; then
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
  if [[ -n $jobs ]]; then
    echo "slurm-down: cancelling jobs" $jobs
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs || true
    for _ in $(seq 20); do [[ -z $(timeout 10 squeue -h -o %i 2>/dev/null) ]] && break; sleep 0.5; done
  fi
fi

# Reverse start order: slurmd needs slurmctld, slurmctld flushes to slurmdbd,
# slurmdbd to MariaDB, and all of them authenticate through munged.
stop slurmd slurmd
stop slurmctld slurmctld
stop slurmdbd slurmdbd
stop mariadb mariadbd
stop munged munged
echo "slurm-down: stopped (state kept in $STATE)"
