#!/bin/sh
# mpi: world-size invariance and identical replicas. With the same seed and global batch,
# 1, 2 and 4 ranks train the same 20 steps (each global batch split into equal slices,
# augmentation keyed by sample index) and log the same per-step losses within float
# rounding; after each run every rank holds bit-identical weights (hash compared).
# Once for LeNet-5 (no batch norm) and once for fashion_cnn with synchronized batch norm.
# usage: invariance.sh MPIEXEC CNN_DIST CNN_PACK SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 srcdir=$4 work=$5
. "$srcdir/tests/train/common.sh"
pack_fmnist

check() { # NAME BAR CONFIG [args]
    name=$1 bar=$2 cfg=$3
    shift 3
    for np in 1 2 4; do
        run $np "$work/$name$np" "$cfg" --set data.batch_size=32 --set train.max_steps=20 \
            --set log.every=1 --set eval.every=0 --hash-weights "$@"
        echo "$name, $np rank(s): weights $(one_hash "$work/$name$np.log")"
    done
    for np in 2 4; do
        set -- $(max_rel_diff "$work/${name}1" "$work/$name$np")
        echo "$name: 1 vs $np ranks, $2 steps: max relative loss difference $1 (bar $bar)"
        awk -v d="$1" -v b=$bar 'BEGIN { exit !(d <= b) }' || { echo "FAILED"; exit 1; }
    done
}
# float32 sums in another order: LeNet-5 measured 0 at 6 digits (a wrong split or key: > 1e-2)
check lenet5 2e-4 "$srcdir/configs/lenet5_fashion.yaml"
# Dropout off (its masks are drawn per rank), batch norm synchronized. Early BN training
# amplifies rounding: measured 3.8e-4 by step 20 (5e-6 up to step 11); per-rank BN instead
# of synchronized differs by 4.5e-4 at step 1 and 1.6e-2 by step 20.
check bn 2e-3 "$srcdir/configs/fashion_cnn.yaml" --set comm.sync_bn=true --set model.layers.9.p=0 \
    --set optim.lr=0.01
echo "world-size invariance and identical replicas hold"
