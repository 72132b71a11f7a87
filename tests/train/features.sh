#!/bin/sh
# mpi: the training options end to end. Gradient accumulation: 2 micro-batches of 32 give
# the same losses as one batch of 64 (LeNet-5 has no batch norm, so the mean gradient is the
# same up to float rounding), on 1 and 2 ranks. Mixup + CutMix + label smoothing + AdamW +
# clipping + EMA + linear lr scaling + warmup together: the run trains (finite losses, the
# accuracy after 150 steps is far above chance) and evaluates the EMA. train.init_weights:
# a new run from that run's last checkpoint, one step at lr 1e-9, evaluates as it did; with
# 12 classes the strict load names the head and the non-strict one keeps the head's own
# initialization and says so; a resume of the first ignores the (by then missing) file.
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
ck="$work/mix/ckpt-000000150.h5"
init="--set train.max_steps=1 --set eval.every=1 --set optim.lr=1e-9 --set sched.warmup_epochs=0"
run 2 "$work/init" "$cfg" $init --set train.init_weights="$ck"
grep -q "initial weights from $ck\$" "$work/init.log" || {
    echo "FAILED: no 'initial weights' line"; cat "$work/init.log"; exit 1; }
a=$(grep '"split": "val"' "$work/mix/metrics.jsonl" | tail -1 | sed 's/.*"top1": \([0-9.]*\).*/\1/')
b=$(grep '"split": "val"' "$work/init/metrics.jsonl" | tail -1 | sed 's/.*"top1": \([0-9.]*\).*/\1/')
echo "train.init_weights: top-1 $b after one step at lr 1e-9 from weights that gave $a"
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a - b <= 0.002 && b - a <= 0.002) }' || {
    echo "FAILED"; exit 1; }
if "$mpiexec" --oversubscribe -np 2 "$dist" "$cfg" --set run.dir="$work/strict" \
       --set data.train="$work/data/fm.h5" --set data.val=null --set threads=1 $init \
       --set train.init_weights="$ck" --set model.args.num_classes=12 > "$work/strict.log" 2>&1
then echo "FAILED: a 12-class model loaded 10-class weights strictly"; exit 1; fi
grep -q "'fc3.weight' is (10, 84) in the file but (12, 84) in the model" "$work/strict.log" || {
    echo "FAILED: strict load message"; cat "$work/strict.log"; exit 1; }
run 2 "$work/loose" "$cfg" $init --set train.init_weights="$ck" \
    --set model.args.num_classes=12 --set train.init_strict=false
grep -q "not in the file or shaped differently there: fc3.weight, fc3.bias)" "$work/loose.log" || {
    echo "FAILED: non-strict load message"; cat "$work/loose.log"; exit 1; }
# A resume continues from the run's own checkpoint: train.init_weights is not read again
# (a fine-tuning job requeued after its init file was removed must go on).
run 2 "$work/init" "$cfg" $init --set train.max_steps=2 --set train.init_weights="$work/gone.h5" \
    --resume auto
grep -q "resuming from .*ckpt-000000001.h5" "$work/init.log" &&
    ! grep -q "initial weights" "$work/init.log" || {
    echo "FAILED: a resume read train.init_weights"; cat "$work/init.log"; exit 1; }
echo "init_strict=false kept the 12-class head: $(grep -m1 'initial weights' "$work/loose.log")"
echo "training options work"
