# Shared by the training tests: packs Fashion-MNIST's 10k test images once per work folder
# (train and val both read it: small and fast), runs cnn-dist under mpiexec, and reads
# per-step values out of metrics.jsonl. Sourced with $mpiexec $dist $pack $work set.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are still live at exit (as in the pack tests).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
src=/usr/share/datasets/fashion-mnist

pack_fmnist() {
    if [ ! -r $src/t10k-images-idx3-ubyte.gz ]; then
        echo "skipped: $src not found (apt-get install dataset-fashion-mnist)"
        exit 77
    fi
    rm -rf "$work" && mkdir -p "$work"
    "$pack" mnist $src/t10k-images-idx3-ubyte.gz $src/t10k-labels-idx1-ubyte.gz \
        --out "$work/data/fm" --shards 2 > /dev/null
}

# run RANKS RUN_DIR CONFIG [cnn-dist args]: trains; output in RUN_DIR.log.
run() {
    np=$1 dir=$2 cfg=$3
    shift 3
    "$mpiexec" --oversubscribe -np "$np" "$dist" "$cfg" --set run.dir="$dir" \
        --set data.train="$work/data/fm.h5" --set data.val="$work/data/fm.h5" \
        --set threads=1 --set data.workers=1 "$@" > "$dir.log" 2>&1 || {
        echo "FAILED: $np ranks: $dist $cfg $*"; tail -30 "$dir.log"; exit 1; }
}

# "step loss" per training line of RUN_DIR/metrics.jsonl.
losses() {
    sed -n 's/^{"epoch": [0-9]*, "step": \([0-9]*\), "loss": \([^,]*\),.*/\1 \2/p' \
        "$1/metrics.jsonl"
}

# Largest relative difference of the losses of the same steps in two runs.
max_rel_diff() {
    losses "$1" > "$work/a.txt"
    losses "$2" > "$work/b.txt"
    join "$work/a.txt" "$work/b.txt" | awk '
        { d = $2 - $3; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; r = d / (s > 1e-12 ? s : 1e-12)
          if (r > m) m = r; n++ }
        END { if (n == 0) { print "no common steps"; exit 1 } printf "%.3g %d\n", m, n }'
}

# Every "rank R weights fnv1a64 H" line of a log has the same H; prints it.
one_hash() {
    hashes=$(sed -n 's/^rank [0-9]* weights fnv1a64 \([0-9a-f]*\)$/\1/p' "$1" | sort -u)
    n=$(sed -n 's/^rank [0-9]* weights fnv1a64 .*$/x/p' "$1" | wc -l)
    [ "$n" -ge 1 ] && [ "$(echo "$hashes" | wc -l)" -eq 1 ] || {
        echo "FAILED: ranks disagree on the weights in $1:"; grep fnv1a64 "$1"; exit 1; }
    echo "$hashes"
}
