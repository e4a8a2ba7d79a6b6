#!/usr/bin/env bash
# Start a private single-node SLURM cluster on loopback (Debian 12, run as root,
# no systemd needed): munged, MariaDB + slurmdbd (job accounting, so `sacct`
# works), slurmctld and slurmd. Idempotent: daemons that already run (by our pid
# files) are left alone; exits 0 once the node is idle.
#
# State (controller state, spool, MariaDB data, pid files, logs, jobcomp.txt)
# lives in $SHIFTBENCH_SLURM_DIR (default /tmp/shiftbench-slurm). Configs go to
# /etc/slurm/slurm.conf and /etc/slurm/slurmdbd.conf: that is the compiled-in
# default path, so sbatch/squeue/sacct run from any process (e.g. Snakemake's
# SLURM executor plugin) find them without SLURM_CONF. They are overwritten on
# each start (never while a cluster from this script runs).
# Accounting: slurmdbd + a private MariaDB, so `sacct` works (and the Snakemake
# plugin's default `sacct` status command does not hang). Completed jobs are
# also appended to $STATE/jobcomp.txt (jobcomp/filetxt).
# Stop everything with scripts/slurm-down.sh.
set -euo pipefail

STATE=${SHIFTBENCH_SLURM_DIR:-/tmp/shiftbench-slurm}
DBPORT=${SHIFTBENCH_SLURM_DBPORT:-3307}   # our MariaDB; 3307 avoids a system one
CLUSTER=shiftbench
HOST=$(hostname -s)
PIDS=$STATE/pids
LOGS=$STATE/log
TIMEOUT=60

# alive <name> <program>: $PIDS/<name>.pid names a live (non-zombie) <program>.
alive() {
  local pid
  pid=$(cat "$PIDS/$1.pid" 2>/dev/null) && [[ -n $pid ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] && ! grep -qs '^State:.*zombie' "/proc/$pid/status"
}
wait_for() {  # wait_for <what> <command...>: poll for up to $TIMEOUT s
  local what=$1; shift
  for _ in $(seq $((TIMEOUT * 2))); do
    timeout 10 "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "slurm-up: timed out waiting for $what; logs:" >&2
  tail -n 30 "$STATE"/*/*.log >&2 || true
  exit 1
}
NODE_IDLE=(sh -c '[ "$(sinfo -h -o %T)" = idle ]')

# Fast path: everything already up.
if alive mariadb mariadbd && alive slurmdbd slurmdbd && alive slurmctld slurmctld &&
  alive slurmd slurmd && timeout 10 "${NODE_IDLE[@]}" 2>/dev/null; then
  echo "slurm-up: already running, node $HOST idle (state in $STATE)"
  exit 0
fi

# 1. Packages (nothing starts by itself: there is no systemd).
PKGS=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
missing=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *"ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "slurm-up: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The ports are fixed (6817-6819), so refuse to clobber a cluster we did not start.
if ! alive slurmctld slurmctld && timeout 10 scontrol ping >/dev/null 2>&1; then
  echo "slurm-up: another slurmctld answers (not ours, state $STATE); stop it first" >&2
  exit 1
fi

# munged and mariadbd drop privileges: they get their own dirs for pid and log
# files (symlinked into $PIDS).
mkdir -p "$PIDS" "$LOGS" "$STATE"/{ctld,slurmd,munge,mariadb} /run/munge /etc/slurm
chown munge:munge "$STATE/munge" /run/munge
chown mysql:mysql "$STATE/mariadb"
chmod 0700 "$STATE/munge"

# 2. Configs.
CPUS=$(nproc)
MEM=$(free -m | awk '/^Mem:/ {print $2}')
MEM=$((MEM > 2048 ? MEM - 1024 : MEM * 3 / 4))  # leave margin for the OS
cat >/etc/slurm/slurm.conf <<EOF
# Written by shiftbench scripts/slurm-up.sh; state in $STATE
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobAcctGatherType=jobacct_gather/linux
AccountingStoreFlags=job_comment
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
# slurmdbd refuses a config that is not private to SlurmUser.
install -m 600 /dev/stdin /etc/slurm/slurmdbd.conf <<EOF
# Written by shiftbench scripts/slurm-up.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$PIDS/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DBPORT
StorageUser=slurm
StoragePass=shiftbench
StorageLoc=slurm_acct_db
EOF

# 3. munged (skipped if some munged already answers on the default socket).
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  [[ -s /etc/munge/munge.key ]] || su -s /bin/sh munge -c "mungekey --create"
  # --force: take over a stale socket left by a killed munged.
  su -s /bin/sh munge -c "/usr/sbin/munged --force --pid-file=$STATE/munge/munged.pid \
    --log-file=$STATE/munge/munged.log"
  ln -sf "$STATE/munge/munged.pid" "$PIDS/munged.pid"
  wait_for munged sh -c 'munge -n </dev/null | unmunge'
fi

# 4. MariaDB for slurmdbd: a private instance, data under $STATE/mysql.
MYSQL=(mariadb --no-defaults -S "$STATE/mariadb/mysqld.sock" -u root)
if ! alive mariadb mariadbd; then
  if [[ ! -d $STATE/mysql/mysql ]]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" \
      --auth-root-authentication-method=socket >"$LOGS/mariadb-install.log" 2>&1 ||
      { cat "$LOGS/mariadb-install.log" >&2; rm -rf "$STATE/mysql"; exit 1; }
  fi
  setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" \
    --socket="$STATE/mariadb/mysqld.sock" --bind-address=127.0.0.1 --port="$DBPORT" \
    --pid-file="$STATE/mariadb/mariadb.pid" --log-error="$STATE/mariadb/mariadb.log" \
    --innodb-buffer-pool-size=1G --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
  ln -sf "$STATE/mariadb/mariadb.pid" "$PIDS/mariadb.pid"
  wait_for MariaDB "${MYSQL[@]}" -e 'SELECT 1'
  "${MYSQL[@]}" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'shiftbench';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
fi

# 5. slurmdbd, then register the cluster (no-op if it exists).
alive slurmdbd slurmdbd || /usr/sbin/slurmdbd
wait_for slurmdbd sacctmgr -n list cluster
grep -qxF "$CLUSTER" <<<"$(sacctmgr -n -P list cluster format=cluster)" ||
  sacctmgr -i add cluster "$CLUSTER" >/dev/null

# 6. slurmctld and slurmd; wait until the node is idle.
alive slurmctld slurmctld || /usr/sbin/slurmctld
alive slurmd slurmd || /usr/sbin/slurmd
wait_for "node $HOST to be idle" "${NODE_IDLE[@]}"
echo "slurm-up: cluster $CLUSTER up, node $HOST idle ($CPUS CPUs, ${MEM} MB; state in $STATE)"
