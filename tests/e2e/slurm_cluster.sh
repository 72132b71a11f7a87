# A real one-node SLURM cluster for e2e tests (sourced by tests/e2e/slurm_*.sh): munged,
# slurmctld and slurmd from Debian's munge and slurm-wlm, run in the foreground as this
# shell's children, with every file (key, sockets, state, logs, slurm.conf) in one folder and
# ports no other program listens on, so it touches nothing in /etc or /var and several test
# runs can coexist. slurm_cluster_stop cancels every job and ends the daemons by their pids;
# slurm_cluster_remove deletes the folder.

slurm_daemons="" slurm_dir=""

# Prints why this machine cannot run the cluster (nothing when it can).
slurm_cluster_missing() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root (slurmd must run as root)"
        return
    fi
    for exe in munged mungekey slurmctld slurmd sbatch scontrol; do
        if ! command -v "$exe" >/dev/null && [ ! -x "/usr/sbin/$exe" ]; then
            echo "$exe not found (apt-get install slurm-wlm munge)"
            return
        fi
    done
}

# True when nothing listens on 127.0.0.1:$1.
slurm_port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Two free ports in [20000, 40000), different from run to run (the pid picks the start).
slurm_pick_ports() {
    local p=$((20000 + ($$ * 7) % 19990)) tries=0
    while ! slurm_port_free $p || ! slurm_port_free $((p + 1)); do
        p=$((20000 + (p - 20000 + 2) % 19990))
        tries=$((tries + 1))
        [ $tries -lt 200 ] || { echo "no free port pair found" >&2; return 1; }
    done
    echo $p
}

slurm_write_conf() {
    local dir=$1 host=$2 port=$3 cpus
    cpus=$(nproc)
    # task/affinity binds each task to its cores (srun --cpu-bind), without cgroups;
    # cred_expire=5 lets a requeued job start again after 5 s instead of 120 s.
    cat >"$dir/slurm.conf" <<EOF
ClusterName=cnntest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.sock,cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=100 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
}

# Waits up to $1 seconds for the command $2... to succeed.
slurm_wait_for() {
    local t=$1
    shift
    while ! "$@" >/dev/null 2>&1; do
        t=$((t - 1))
        [ $t -gt 0 ] || return 1
        sleep 1
    done
}

slurm_node_idle() {
    sinfo -h -o %T | grep -qx idle
}

# Starts the cluster with its files in a new folder $slurm_dir below /tmp (munged refuses a
# socket below a folder that not everyone may search, such as /root) and exports SLURM_CONF
# for sbatch, srun and scontrol. On failure prints the daemons' logs.
slurm_cluster_start() {
    local dir host port sbin=/usr/sbin
    dir=$(mktemp -d /tmp/cnn-slurm.XXXXXX)
    slurm_dir=$dir
    host=$(hostname -s)
    mkdir -p "$dir/ctld" "$dir/spool"
    chmod 755 "$dir"
    port=$(slurm_pick_ports)
    slurm_write_conf "$dir" "$host" "$port"
    # A test run inside a SLURM job must not hand that job's variables to this cluster.
    for v in $(compgen -e | grep '^SLURM_'); do unset "$v"; done
    export SLURM_CONF=$dir/slurm.conf
    PATH=$PATH:$sbin
    mungekey -c -k "$dir/munge.key"
    munged -F --socket="$dir/munge.sock" --key-file="$dir/munge.key" \
        --pid-file="$dir/munged.pid" --seed-file="$dir/munged.seed" \
        --log-file="$dir/munged.log" >"$dir/munged.out" 2>&1 &
    slurm_daemons="$!"
    slurm_wait_for 20 test -S "$dir/munge.sock" || { slurm_cluster_logs "$dir"; return 1; }
    slurmctld -D -f "$SLURM_CONF" >"$dir/slurmctld.out" 2>&1 &
    slurm_daemons="$! $slurm_daemons"
    slurm_wait_for 30 scontrol ping || { slurm_cluster_logs "$dir"; return 1; }
    slurmd -D -N "$host" -f "$SLURM_CONF" >"$dir/slurmd.out" 2>&1 &
    slurm_daemons="$! $slurm_daemons"
    if ! slurm_wait_for 30 slurm_node_idle; then
        echo "the node did not become idle: $(sinfo -h -o '%T %E' 2>&1)"
        slurm_cluster_logs "$dir"
        return 1
    fi
    echo "SLURM cluster up (${SECONDS}s): $(sinfo -h -o '%P %a %D %T %N %c cpus')," \
        "ports $port and $((port + 1))"
}

slurm_cluster_logs() {
    for f in "$1"/*.out "$1"/*.log; do
        [ -s "$f" ] && { echo "---- $f (last lines)"; tail -n 20 "$f"; }
    done
    return 0
}

# Cancels every job, waits for them to end, then stops slurmd, slurmctld and munged (in
# that order, by the pids started here; KILL after 10 s). Safe to call twice.
slurm_cluster_stop() {
    [ -n "$slurm_daemons" ] || return 0
    if scontrol ping >/dev/null 2>&1; then
        scancel --user="$(id -un)" 2>/dev/null || true
        slurm_wait_for 30 slurm_no_jobs || echo "jobs still listed: $(squeue -h 2>&1)"
    fi
    for pid in $slurm_daemons; do
        kill "$pid" 2>/dev/null || continue
        local t=0
        while kill -0 "$pid" 2>/dev/null && [ $t -lt 100 ]; do
            sleep 0.1
            t=$((t + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    slurm_daemons=""
}

slurm_no_jobs() {
    [ -z "$(squeue -h -o %i 2>/dev/null)" ]
}

slurm_cluster_remove() {
    [ -z "$slurm_dir" ] || rm -rf "$slurm_dir"
    slurm_dir=""
}
