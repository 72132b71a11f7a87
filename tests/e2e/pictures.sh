#!/bin/sh
# e2e: what a run shows. LeNet-5 trains 300 steps on the packed Fashion-MNIST test set
# (mpirun -np 2, evaluations at steps 150 and 300); then
#  - curves.png, samples.png, confusion.png and filters.png decode (libpng), have the
#    documented sizes and more than one colour, and filters.png (and `cnn-dist filters` of
#    the checkpoint) reconstruct the checkpoint's conv1 within one grey level
#    (pictures_check);
#  - the TensorBoard event file is read by protobuf itself (tb_run_check.py): CRCs, and
#    every scalar equals metrics.jsonl's at the same step;
#  - log.pictures=false and log.tensorboard=false write neither; without evaluations only
#    curves.png and filters.png are drawn;
#  - a run directory that cannot take the files is an error at start-up.
# usage: pictures.sh MPIEXEC CNN_DIST CNN_PACK PICTURES_CHECK PROTOC SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 pcheck=$4 protoc=$5 srcdir=$6 work=$7
dist=$(cd "$(dirname "$dist")" && pwd)/$(basename "$dist") # run from another folder below
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
src=/usr/share/datasets/fashion-mnist
[ -r $src/t10k-images-idx3-ubyte.gz ] || {
    echo "skipped: $src not found (apt-get install dataset-fashion-mnist)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
"$pack" mnist $src/t10k-images-idx3-ubyte.gz $src/t10k-labels-idx1-ubyte.gz \
    --out "$work/data/t10k" --shards 2 > /dev/null
train() { # RUN_DIR cnn-dist args
    dir=$1
    shift
    "$mpiexec" --oversubscribe -np 2 "$dist" "$srcdir/configs/lenet5_fashion.yaml" \
        --set data.train="$work/data/t10k.h5" --set data.val="$work/data/t10k.h5" \
        --set run.dir="$dir" --set train.epochs=2 --set log.every=50 "$@"
}
train "$work/run" > "$work/run.log" 2>&1 || { tail -20 "$work/run.log"; exit 1; }
ckpt=$(ls "$work"/run/ckpt-*.h5 | tail -1)
"$dist" filters "$ckpt" --out "$work/filters_cmd.png"
(cd "$work" && "$dist" filters "$ckpt" --layer conv1) | grep -q "wrote ckpt-000000312-conv1-filters.png"
if "$dist" filters "$ckpt" --layer fc9 2> "$work/nolayer.err"; then exit 1; fi
grep -q "its convolutions: conv1, conv2" "$work/nolayer.err"
"$pcheck" "$work/run" "$ckpt" 4 2 "$work/filters_cmd.png"
rc=0
/usr/bin/python3 "$srcdir/tests/e2e/tb_run_check.py" "$protoc" \
    "$srcdir/tests/fixtures/tensorboard/tb_event.proto" "$work/run" "$work/tb" || rc=$?
[ $rc -eq 0 ] || [ $rc -eq 77 ] || exit 1

train "$work/off" --set log.pictures=false --set log.tensorboard=false \
    --set train.max_steps=20 > "$work/off.log" 2>&1
if ls "$work"/off/*.png "$work"/off/events.out.tfevents.* 2> /dev/null; then
    echo "FAILED: pictures or events written with both keys off"; exit 1
fi

# no validation set: curves and filters only, nothing drawn from a missing evaluation
train "$work/noval" --set eval.every=0 --set train.max_steps=20 > "$work/noval.log" 2>&1 || {
    tail -20 "$work/noval.log"; exit 1; }
[ -s "$work/noval/curves.png" ] && [ -s "$work/noval/filters.png" ] &&
    [ ! -e "$work/noval/samples.png" ] && [ ! -e "$work/noval/confusion.png" ] || {
    echo "FAILED: pictures of a run without evaluation"; ls "$work/noval"; exit 1; }

printf 'a file, not a folder\n' > "$work/notadir"
if train "$work/notadir/run" --set train.max_steps=20 > "$work/bad.log" 2>&1; then
    echo "FAILED: a run directory under a file was accepted"; exit 1
fi
grep -q "error: .*notadir" "$work/bad.log" && ! grep -q '^epoch' "$work/bad.log" || {
    echo "FAILED: not an error at start-up naming the run directory"; cat "$work/bad.log"; exit 1; }
echo "pictures and TensorBoard events: ok"
[ $rc -eq 0 ] || exit 77
