#!/bin/sh
# mpi: channels-last (channels_last: true) end to end on the CPU backend, 2 ranks. The CPU
# backend runs its NCHW kernels on transposed copies, so a channels-last run must log the
# same losses and end with the same weights as the NCHW run, bit for bit: LeNet-5 (average
# pooling, flatten, linear; 2 micro-batches per step, so gradients accumulate through the
# working copies) and the batch-norm net (batch norm, max pooling, dropout) in fp32, the
# batch-norm net in bf16 with synchronized batch norm too, and a channels-last run stopped
# at step 10 and resumed continues exactly (checkpoints hold the NCHW masters).
# usage: channels_last.sh MPIEXEC CNN_DIST CNN_PACK SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 srcdir=$4 work=$5
. "$srcdir/tests/train/common.sh"
pack_fmnist
common="--set train.max_steps=20 --set log.every=1 --set eval.every=1 --hash-weights"

# same NAME CONFIG [args]: the NCHW and the channels-last run agree exactly.
same() {
    name=$1 cfg=$srcdir/configs/$2
    shift 2
    run 2 "$work/$name" "$cfg" $common "$@"
    run 2 "$work/${name}_cl" "$cfg" $common --set channels_last=true "$@"
    grep -q "^cnn-dist: .*(cpu, [a-z0-9]*, channels-last)" "$work/${name}_cl.log" &&
        ! grep -q "channels-last" "$work/$name.log" || {
        echo "FAILED: the runs do not report their layouts"; head -1 "$work/$name.log" \
            "$work/${name}_cl.log"; exit 1; }
    set -- $(max_rel_diff "$work/$name" "$work/${name}_cl")
    a=$(one_hash "$work/$name.log") b=$(one_hash "$work/${name}_cl.log")
    echo "$name: channels-last vs NCHW over $2 steps: max relative loss difference $1;" \
         "weights $a / $b (bar: identical)"
    [ "$1" = 0 ] && [ "$2" -ge 20 ] && [ "$a" = "$b" ] || { echo "FAILED"; exit 1; }
}

same lenet5 lenet5_fashion.yaml --set train.accum_steps=2
same bn_net fashion_cnn.yaml --set data.batch_size=32
same bn_net_bf16 fashion_cnn.yaml --set data.batch_size=32 --set precision=bf16 \
    --set comm.sync_bn=true

cfg=$srcdir/configs/fashion_cnn.yaml
run 2 "$work/part" "$cfg" $common --set data.batch_size=32 --set channels_last=true \
    --set train.max_steps=10
run 2 "$work/part" "$cfg" $common --set data.batch_size=32 --set channels_last=true \
    --resume auto
set -- $(max_rel_diff "$work/bn_net_cl" "$work/part")
a=$(one_hash "$work/bn_net_cl.log") b=$(one_hash "$work/part.log")
echo "channels-last resumed at step 10 vs uninterrupted: $2 steps, max relative loss" \
     "difference $1; weights $a / $b"
[ "$1" = 0 ] && [ "$a" = "$b" ] || { echo "FAILED: the resumed run differs"; exit 1; }
echo "channels-last works"
