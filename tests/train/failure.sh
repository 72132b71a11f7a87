#!/bin/sh
# mpi: no rank hangs. A training set that is truncated or has more classes than the model
# outputs, a validation set whose classes are not the training set's, a denoiser without
# noise and NCCL asked for on a machine without GPUs stop every rank with a message naming
# the problem and a non-zero exit; a rank killed in the middle of training brings the whole
# job down within seconds.
# usage: failure.sh MPIEXEC CNN_DIST CNN_PACK SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 srcdir=$4 work=$5
. "$srcdir/tests/train/common.sh"
pack_fmnist
cfg=$srcdir/configs/lenet5_fashion.yaml

expect_fail() { # WHAT PATTERN cnn-dist args...
    what=$1 pattern=$2
    shift 2
    start=$(date +%s)
    if timeout 120 "$mpiexec" --oversubscribe -np 2 "$dist" "${fail_cfg:-$cfg}" --set threads=1 \
           --set run.dir="$work/fail" "$@" > "$work/fail.log" 2>&1; then
        echo "FAILED: $what: the run succeeded"; exit 1
    fi
    took=$(( $(date +%s) - start ))
    grep -q "$pattern" "$work/fail.log" || {
        echo "FAILED: $what: no '$pattern' in:"; cat "$work/fail.log"; exit 1; }
    [ $took -le 60 ] || { echo "FAILED: $what took $took s"; exit 1; }
    echo "$what: every rank stopped in $took s with: $(grep -m1 "$pattern" "$work/fail.log")"
    rm -rf "$work/fail"
}

cp "$work/data/fm-00001-of-00002.h5" "$work/keep.h5"
head -c 4096 "$work/keep.h5" > "$work/data/fm-00001-of-00002.h5"
expect_fail "truncated shard" "fm-00001-of-00002.h5" \
    --set data.train="$work/data/fm.h5" --set data.val=null
mv "$work/keep.h5" "$work/data/fm-00001-of-00002.h5"
expect_fail "too many classes" "has 10 classes but the model outputs 5" \
    --set data.train="$work/data/fm.h5" --set data.val=null --set model.args.num_classes=5
expect_fail "missing file" "$work/none.h5" --set data.train="$work/none.h5"
mkdir -p "$work/vf/bird" "$work/vf/cat"
cp "$srcdir/tests/fixtures/images/exif1.jpg" "$work/vf/bird/"
cp "$srcdir/tests/fixtures/images/rgba.png" "$work/vf/cat/"
"$pack" imagefolder "$work/vf" --out "$work/vf" > /dev/null
expect_fail "validation classes" "validation set $work/vf.h5 has 2 classes (bird, cat)" \
    --set data.train="$work/data/fm.h5" --set data.val="$work/vf.h5"
fail_cfg=$srcdir/configs/unet_denoise.yaml
expect_fail "denoiser without noise" "data.noise_std is 0" --set data.noise_std=0 \
    --set data.train="$work/data/fm.h5" --set data.val=null --set model.input=[3,28,28]
fail_cfg=
if ! command -v nvidia-smi > /dev/null; then
    expect_fail "nccl without a GPU" "comm.transport is nccl" --set comm.transport=nccl \
        --set data.train="$work/data/fm.h5" --set data.val=null
fi

# kill -9 one rank while both train: mpiexec must end the job, not wait forever.
"$mpiexec" --oversubscribe -np 2 "$dist" "$cfg" --set threads=1 --set run.dir="$work/kill" \
    --set data.train="$work/data/fm.h5" --set data.val=null --set train.epochs=50 \
    --set log.every=1 > "$work/kill.log" 2>&1 &
job=$!
i=0
until grep -q '"step": 5,' "$work/kill/metrics.jsonl" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 600 ] || { echo "FAILED: training did not start"; kill $job; exit 1; }
    sleep 0.1
done
victim=$(pgrep -P $job | tail -1)
[ -n "$victim" ] || { echo "FAILED: no rank process under mpiexec"; kill $job; exit 1; }
kill -9 "$victim"
start=$(date +%s)
while kill -0 $job 2>/dev/null; do
    [ $(( $(date +%s) - start )) -le 30 ] || { echo "FAILED: job alive 30 s after a rank died"
        kill -9 $job; pkill -9 -f "$work/kill" || true; exit 1; }
    sleep 0.2
done
rc=0; wait $job || rc=$?
[ $rc -ne 0 ] || { echo "FAILED: job exited 0 after a rank was killed"; exit 1; }
echo "killed rank $victim: job ended in $(( $(date +%s) - start )) s with exit $rc"
echo "failures end every rank"
