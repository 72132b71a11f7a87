#!/bin/bash
# e2e: slurm/pack.sbatch and slurm/train.sbatch on a real one-node SLURM cluster
# (tests/e2e/slurm_cluster.sh) with 2 tasks: pack a slice of Fashion-MNIST with 2 MPI ranks,
# train a few steps, resubmit with more steps (the steps go on from the checkpoint), and
# have the job requeue itself on the time-limit signal (the requeued job resumes from its
# latest checkpoint). The daemons are stopped on every exit.
# usage: slurm_train.sh CNN_DIST CNN_PACK WORKDIR; exit 77 (skipped) when not root, without
# slurm-wlm and munge, or without the data.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
dist=$(realpath "$1") pack=$(realpath "$2") work=$(realpath -m "$3")
config=${SLURM_TEST_CONFIG:-$src/configs/lenet5_fashion.yaml}
fmnist=/usr/share/datasets/fashion-mnist
# shellcheck source=tests/e2e/slurm_cluster.sh
. "$here/slurm_cluster.sh"

why=$(slurm_cluster_missing)
[ -r $fmnist/train-images-idx3-ubyte.gz ] || why="$fmnist not found (dataset-fashion-mnist)"
if [ -n "$why" ]; then
    echo "skipped: $why"
    exit 77
fi

fail() {
    echo "FAIL: $*"
    exit 1
}
on_exit() {
    local rc=$?
    slurm_cluster_stop
    if [ $rc -eq 0 ]; then
        rm -rf "$work"
        slurm_cluster_remove
    else
        [ -z "$slurm_dir" ] || slurm_cluster_logs "$slurm_dir"
        for f in "$work"/*.out; do [ -f "$f" ] && { echo "---- $f"; cat "$f"; }; done
        echo "files kept in $work and ${slurm_dir:-(no cluster folder)}"
    fi
}
rm -rf "$work" && mkdir -p "$work"
trap on_exit EXIT
trap 'exit 1' INT TERM HUP
slurm_cluster_start
cd "$work"

# An idx file holding the first N items of SRC (gzip'ed idx): the magic, the count N, the
# other dimensions and N items of ITEM bytes.
idx_slice() {
    local src=$1 dst=$2 n=$3 dims=$4 item=$5
    {
        gzip -dc "$src" | head -c 4
        printf '%b' "$(printf '\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) \
            $((n >> 8 & 255)) $((n & 255)))"
        gzip -dc "$src" | tail -c +9 | head -c $((dims + n * item))
    } >"$dst"
}
mkdir -p idx/fashion
idx_slice $fmnist/train-images-idx3-ubyte.gz idx/fashion/train-images 1024 8 784
idx_slice $fmnist/train-labels-idx1-ubyte.gz idx/fashion/train-labels 1024 0 1
idx_slice $fmnist/t10k-images-idx3-ubyte.gz idx/fashion/t10k-images 512 8 784
idx_slice $fmnist/t10k-labels-idx1-ubyte.gz idx/fashion/t10k-labels 512 0 1

common=(--wait --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0 --time=10)
state() { scontrol show job -o "$1" | grep -o "$2=[^ ]*" | cut -d= -f2; }

# Packing: 2 ranks under srun, one "packed" line (rank 0's; two would mean two
# independent processes), 2 shards of verified data.
for split in train t10k; do
    n=$([ $split = train ] && echo 1024 || echo 512)
    CNN_PACK=$pack timeout 120 sbatch "${common[@]}" --output=pack-$split.out --job-name=pack \
        "$src/slurm/pack.sbatch" mnist idx/fashion/$split-images idx/fashion/$split-labels \
        --out data/fashion-mnist/$split --shards 2 >/dev/null || fail "pack.sbatch $split"
    grep -q "launcher srun-pmix" pack-$split.out || fail "pack.sbatch did not use srun --mpi=pmix"
    [ "$(grep -c "^packed $n images" pack-$split.out)" = 1 ] || fail "not 1 packing line"
    "$pack" info data/fashion-mnist/$split.h5 --verify >info-$split.txt
    grep -q "^samples   $n$" info-$split.txt || fail "$split.h5 does not hold $n samples"
    grep -q "index and blob checksums ok" info-$split.txt || fail "$split.h5 checksums"
done
echo "ok (${SECONDS}s): pack.sbatch packed train (1024) and t10k (512) with 2 ranks"

# Training lines' steps in order (evaluation lines carry "split").
run_dir=$work/runs/$(basename "$config" .yaml)
steps() { grep -v '"split"' "$run_dir/metrics.jsonl" | sed -n 's/.*"step": *\([0-9]*\).*/\1/p'; }
# 1024 samples / batch 64 = 16 steps per epoch; a checkpoint every epoch and at the end.
sets=(--set data.batch_size=64 --set log.every=1 --set ckpt.every=1 --set eval.every=1)
train() { # NAME MAX_STEPS [sbatch options]: submit and wait; the job id on stdout
    local name=$1 max=$2
    shift 2
    CNN_DIST=$dist timeout 120 sbatch --parsable "$@" --output="$name.out" --job-name="$name" \
        --signal=B:USR1@60 "$src/slurm/train.sbatch" "$config" "${sets[@]}" \
        --set train.max_steps="$max"
}

job=$(train first 20 "${common[@]}") || fail "the first training job failed"
[ "$(state "$job" JobState)" = COMPLETED ] || fail "job $job: $(state "$job" JobState)"
grep -q "launcher srun-pmix" first.out || fail "train.sbatch did not use srun --mpi=pmix"
grep -q "run dir $run_dir$" first.out || fail "the run dir is not $run_dir"
# Exactly 1..20: two ranks that did not form one job would each have logged every step.
[ "$(steps | tr '\n' ' ')" = "$(seq 1 20 | tr '\n' ' ')" ] ||
    fail "the first job's steps are not 1..20: $(steps | tr '\n' ' ')"
line=$(grep -v '"split"' "$run_dir/metrics.jsonl" | tail -n 1)
for k in epoch loss lr img_per_s; do
    grep -q "\"$k\": *[0-9]" <<<"$line" || fail "no numeric \"$k\" in: $line"
done
ls "$run_dir"/ckpt-*.h5 >/dev/null || fail "no checkpoint in $run_dir"
echo "ok (${SECONDS}s): 2 ranks trained steps 1..20 (job $job)"

# Resubmitted with more steps: --resume auto continues at step 21, mid-epoch.
n=$(steps | wc -l)
job=$(train second 40 "${common[@]}") || fail "the resubmitted training job failed"
[ "$(state "$job" JobState)" = COMPLETED ] || fail "job $job: $(state "$job" JobState)"
new=$(steps | tail -n +$((n + 1)) | tr '\n' ' ')
[ "$new" = "$(seq 21 40 | tr '\n' ' ')" ] || fail "the resubmitted job's steps are not 21..40: $new"
echo "ok (${SECONDS}s): the resubmitted job went on from step 21 to 40 (job $job)"

# The time-limit signal (sent here by hand): train.sbatch stops the ranks, cnn-dist writes a
# checkpoint at the step it stopped after, and the job requeues itself. The requeued run
# resumes at the next step, so the job's steps run on without a gap or a repeat (a restart
# from step 1 or from an older checkpoint would break the sequence); no timing is involved.
# The job names its checkpoint (--resume PATH): that holds for the first start only, the
# requeued run continues from the latest one.
more_steps() { [ "$(steps | wc -l)" -gt "$1" ]; }
n0=$(steps | wc -l)
sets+=(--set train.epochs=1000 --resume "$run_dir/ckpt-000000040.h5")
job=$(train third 100000 --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0 \
    --time=10) || fail "sbatch of the third job failed"
slurm_wait_for 60 more_steps "$n0" || fail "job $job logged no step in 60 s"
scancel --signal=USR1 --batch "$job"
slurm_wait_for 90 grep -q "(restart 1)" third.out || fail "job $job was not requeued"
grep -q "requeueing job $job" third.out || fail "train.sbatch did not requeue on USR1"
slurm_wait_for 30 grep -q "restart 1: --resume auto instead of --resume $run_dir/ckpt-000000040.h5" \
    third.out || fail "the requeued job did not switch to --resume auto"
slurm_wait_for 60 more_steps $(($(steps | wc -l) + 5)) || fail "the requeued job logs no steps"
scancel "$job"
gap=$(steps | tail -n +$((n0 + 1)) | awk 'NR == 1 && $1 != 41 { print "first " $1; exit }
    NR > 1 && $1 != p + 1 { print p " then " $1; exit } { p = $1 }')
[ -z "$gap" ] || fail "the third job's steps do not run on from 41 across the requeue: $gap"
stop=$(sed -n 's/.*stopping at step \([0-9]*\).*/\1/p' third.out | head -n 1)
[ -z "$stop" ] || [ "$(steps | tail -n 1)" -gt "$stop" ] || fail "no step after $stop logged"
echo "ok (${SECONDS}s): USR1 stopped job $job (at step ${stop:-?}), it requeued itself and" \
    "went on to step $(steps | tail -n 1) without a gap or a repeat"
echo "SLURM: pack.sbatch and train.sbatch passed on a one-node cluster"
