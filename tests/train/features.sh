#!/bin/sh
# mpi: the training options end to end. Gradient accumulation: 2 micro-batches of 32 give
# the same losses as one batch of 64 (LeNet-5 has no batch norm, so the mean gradient is the
# same up to float rounding), on 1 and 2 ranks. Mixup + CutMix + label smoothing + AdamW +
# clipping + EMA + linear lr scaling + warmup together: the run trains (finite losses, the
# accuracy after 150 steps is far above chance) and evaluates the EMA.
# usage: features.sh MPIEXEC CNN_DIST CNN_PACK SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 srcdir=$4 work=$5
. "$srcdir/tests/train/common.sh"
pack_fmnist
cfg=$srcdir/configs/lenet5_fashion.yaml
common="--set train.max_steps=20 --set log.every=1 --set eval.every=0"
run 1 "$work/b64" "$cfg" $common --set data.batch_size=64
for np in 1 2; do
    run $np "$work/acc$np" "$cfg" $common --set data.batch_size=32 --set train.accum_steps=2
    set -- $(max_rel_diff "$work/b64" "$work/acc$np")
    echo "accumulation 2 x 32 on $np rank(s) vs batch 64: $2 steps, max relative loss difference $1"
    awk -v d="$1" 'BEGIN { exit !(d <= 2e-4) }' || { echo "FAILED"; exit 1; }
done

run 2 "$work/mix" "$cfg" --set train.max_steps=150 --set log.every=10 --set eval.every=1 \
    --set train.mixup=0.2 --set train.cutmix=1.0 \
    --set "model.loss={type: softmax_cross_entropy, label_smoothing: 0.1}" \
    --set optim.name=adamw --set optim.lr=0.001 --set optim.weight_decay=0.05 \
    --set train.grad_clip=1.0 --set train.ema=0.99 --set optim.lr_scaling=linear \
    --set optim.ref_batch=64 --set sched.warmup_epochs=0.1
losses "$work/mix" | awk '$2 != $2 + 0 || $2 > 10 { print "FAILED: loss " $2 " at step " $1; bad = 1 }
                          END { exit bad }'
for split in val val_ema; do
    top1=$(grep "\"split\": \"$split\"" "$work/mix/metrics.jsonl" | tail -1 |
           sed 's/.*"top1": \([0-9.]*\).*/\1/')
    echo "mixup/CutMix/AdamW/EMA run, 150 steps: $split top-1 $top1 (bar 0.5, chance 0.1)"
    awk -v a="$top1" 'BEGIN { exit !(a >= 0.5) }' || { echo "FAILED"; exit 1; }
done
echo "training options work"
