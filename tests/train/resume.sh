#!/bin/sh
# mpi: exact resume. 2 ranks train 2 epochs in one go; a second run stops after 1.5 epochs
# (mid-epoch: the checkpoint holds the sampler position, the optimizer state, the EMA and
# the RNG keys) and a third continues it with --resume auto: the continued run logs the same
# losses for the same steps and ends with bit-identical weights. A checkpoint left half
# written by a killed run (a temporary file with a later step) is ignored by --resume auto;
# a run without --resume refuses a run dir that holds checkpoints, and a resume with another
# optimizer is refused (its state cannot carry over) with the way out named.
# usage: resume.sh MPIEXEC CNN_DIST CNN_PACK SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 srcdir=$4 work=$5
. "$srcdir/tests/train/common.sh"
pack_fmnist
cfg=$srcdir/configs/fashion_cnn.yaml
# 10k images / 64 = 156 steps per epoch; momentum, EMA and dropout all carry state or keys.
set -- --set data.batch_size=64 --set train.epochs=2 --set log.every=1 --set eval.every=1 \
       --set train.ema=0.9 --set model.layers.3.args.out=16 --set model.layers.4.args.out=16 \
       --hash-weights
run 2 "$work/full" "$cfg" "$@"
full=$(one_hash "$work/full.log")
run 2 "$work/part" "$cfg" "$@" --set train.max_steps=234
ls "$work/part" | grep -q '^ckpt-000000234.h5$' || { echo "FAILED: no checkpoint at 234"; exit 1; }
# A killed writer leaves only its temporary file behind.
head -c 1000 "$work/part/ckpt-000000234.h5" > "$work/part/ckpt-000000300.h5.tmp.4242"
if "$mpiexec" --oversubscribe -np 2 "$dist" "$cfg" --set run.dir="$work/part" \
       --set data.train="$work/data/fm.h5" --set data.val="$work/data/fm.h5" \
       > "$work/refuse.log" 2>&1; then
    echo "FAILED: a run without --resume reused a run dir with checkpoints"; exit 1
fi
grep -q "continue that run with --resume auto" "$work/refuse.log" || {
    echo "FAILED: no hint in:"; cat "$work/refuse.log"; exit 1; }
if "$mpiexec" --oversubscribe -np 2 "$dist" "$cfg" --set run.dir="$work/part" \
       --set data.train="$work/data/fm.h5" --set data.val="$work/data/fm.h5" \
       "$@" --set optim.name=adamw --resume auto > "$work/refuse.log" 2>&1; then
    echo "FAILED: a resume switched the optimizer"; exit 1
fi
grep -q "trained with optim.name sgd, but the config says adamw.*train.init_weights=" \
    "$work/refuse.log" || { echo "FAILED: no optimizer message in:"; cat "$work/refuse.log"; exit 1; }
cp "$work/part/metrics.jsonl" "$work/part.jsonl"
run 2 "$work/part" "$cfg" "$@" --resume auto
grep -q "resuming from .*ckpt-000000234.h5" "$work/part.log" || {
    echo "FAILED: did not resume from step 234"; cat "$work/part.log"; exit 1; }
resumed=$(one_hash "$work/part.log")
first=$(losses "$work/part" | awk '$1 > 234' | head -1)
[ "${first%% *}" = 235 ] || { echo "FAILED: the resumed run starts at '$first'"; exit 1; }
set -- $(max_rel_diff "$work/full" "$work/part")
echo "resumed vs uninterrupted: $2 steps, max relative loss difference $1; weights $full / $resumed"
[ "$1" = 0 ] || { echo "FAILED: losses differ"; exit 1; }
[ "$full" = "$resumed" ] || { echo "FAILED: final weights differ"; exit 1; }
grep '"split": "val_ema", "epoch": 2, "step": 312' "$work/full/metrics.jsonl" > "$work/a.txt"
grep '"split": "val_ema", "epoch": 2, "step": 312' "$work/part/metrics.jsonl" > "$work/b.txt"
[ -s "$work/a.txt" ] && cmp -s "$work/a.txt" "$work/b.txt" || { echo "FAILED: EMA evaluations differ"; exit 1; }
echo "exact resume holds"
