#!/bin/sh
# mpi: the watchdog's report says where the job was. A tiny cnn-dist run (8 fixture images
# packed raw at 8x8, 2 steps per epoch, comm.timeout_s 2) on 2 ranks; CNN_TEST_STALL makes
# rank 1 sleep before the collectives of step 3, of the first evaluation, of the first
# checkpoint. Each job must end non-zero within 30 s with rank 0's watchdog report naming
# that place ("epoch 2, step 3", "evaluation after step 2", "checkpoint at step 2"), never
# the "(start-up)" every report said before the trainer set its phase.
# usage: train_stall.sh MPIEXEC CNN_DIST CNN_PACK SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 srcdir=$4 work=$5
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are still live at exit (as in the training tests).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
rm -rf "$work" && mkdir -p "$work/img/a" "$work/img/b"
for f in exif1.jpg exif2.jpg gray.jpg rgb_base.jpg; do cp "$srcdir/tests/fixtures/images/$f" "$work/img/a/"; done
for f in rgb.png gray.png palette.png rgba.png; do cp "$srcdir/tests/fixtures/images/$f" "$work/img/b/"; done
"$pack" imagefolder "$work/img" --out "$work/d" --mode raw --size 8x8 > "$work/pack.log" 2>&1 || {
    echo "FAILED: cnn-pack"; cat "$work/pack.log"; exit 1; }
cat > "$work/stall.yaml" <<YAML
seed: 0
device: cpu
threads: 1
data: {train: $work/d.h5, val: $work/d.h5, batch_size: 4, workers: 1}
train: {epochs: 50}
optim: {name: sgd, lr: 0.01}
eval: {every: 1}
ckpt: {every: 1, keep: 1}
log: {every: 1}
comm: {timeout_s: 2}
model:
  input: [3, 8, 8]
  layers:
    - {type: conv2d, name: conv1, out: 4, kernel: 3, pad: 1}
    - relu
    - {type: global_avg_pool, name: pool}
    - {type: flatten, name: flatten}
    - {type: linear, name: fc, out: 2}
YAML

expect_report() { # STALL PHASE
    log="$work/stall-$1.log"
    start=$(date +%s)
    rc=0
    CNN_TEST_STALL="1:$1" timeout 60 "$mpiexec" --oversubscribe -np 2 -x CNN_TEST_STALL \
        "$dist" "$work/stall.yaml" --set run.dir="$work/run-$1" > "$log" 2>&1 || rc=$?
    took=$(( $(date +%s) - start ))
    [ $rc -ne 0 ] || { echo "FAILED: stall at $1: the job exited 0"; cat "$log"; exit 1; }
    [ $rc -ne 124 ] || { echo "FAILED: stall at $1: the job hung"; cat "$log"; exit 1; }
    [ $took -le 30 ] || { echo "FAILED: stall at $1: took $took s"; exit 1; }
    report=$(grep -m1 "watchdog: rank 0: collective" "$log") || {
        echo "FAILED: stall at $1: no watchdog report from rank 0 in:"; cat "$log"; exit 1; }
    case $report in
        *"($2)' not complete"*) ;;
        *) echo "FAILED: stall at $1: the report does not name '$2':"; echo "$report"; exit 1 ;;
    esac
    case $report in
        *"rank 1 has not joined it"*) ;;
        *) echo "FAILED: stall at $1: the report does not name rank 1:"; echo "$report"; exit 1 ;;
    esac
    echo "stall at $1: job ended (exit $rc) in $took s: $report"
}

expect_report 3 "epoch 2, step 3"
expect_report eval "evaluation after step 2"
expect_report ckpt "checkpoint at step 2"
echo "OK: watchdog reports name the step, the evaluation and the checkpoint"
