#!/bin/sh
# e2e: a trained model used from its checkpoint alone. LeNet-5 trains one epoch on packed
# Fashion-MNIST (mpirun -np 2); then
#  - `cnn-dist eval` on 1 and on 2 ranks equals the run's last evaluation line (loss, top-1,
#    top-5, per-class precision and recall), its confusion rows sum to the class counts and
#    its diagonal is the top-1 hits (predict_check.py reads eval.json with Python's json);
#  - `cnn-dist predict` on 2000 test images written as PNG files, on 2 ranks, gives for every
#    image eval's predicted class and probability, in input order;
#  - bad inputs each get one error line naming the file on stderr and an {"file", "error"}
#    line in the output where their prediction would stand, while the others are predicted,
#    and exit status 1: a missing file, a text file named .jpg, a truncated PNG, a colour photo
#    for this gray model, a folder without images; a checkpoint of another model is refused
#    with the tensor named;
#  - eval's table of a 2-step model shows "-" for the precision of classes never predicted.
# usage: predict_fmnist.sh MPIEXEC CNN_DIST CNN_PACK MNIST_PNG SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 mnist_png=$4 srcdir=$5 work=$6
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
src=/usr/share/datasets/fashion-mnist
[ -r $src/t10k-images-idx3-ubyte.gz ] || {
    echo "skipped: $src not found (apt-get install dataset-fashion-mnist)"; exit 77; }
check="/usr/bin/python3 $srcdir/tests/e2e/predict_check.py"
rm -rf "$work" && mkdir -p "$work/png" "$work/bad"
for split in train t10k; do
    "$pack" mnist $src/$split-images-idx3-ubyte.gz $src/$split-labels-idx1-ubyte.gz \
        --out "$work/data/$split" --shards 2 > /dev/null
done
"$mpiexec" --oversubscribe -np 2 "$dist" "$srcdir/configs/lenet5_fashion.yaml" \
    --set data.train="$work/data/train.h5" --set data.val="$work/data/t10k.h5" \
    --set run.dir="$work/run" --set train.epochs=1 > "$work/train.log" 2>&1 || {
    echo "FAILED: training"; tail -20 "$work/train.log"; exit 1; }
ckpt=$(ls "$work"/run/ckpt-*.h5 | tail -1)

"$dist" eval "$ckpt" --out "$work/eval1" | tee "$work/eval1.log"
$check eval-vs-train "$work/run/metrics.jsonl" "$work/eval1/eval.json" 1000
"$mpiexec" --oversubscribe -np 2 "$dist" eval "$ckpt" --data "$work/data/t10k.h5" \
    --out "$work/eval2" > "$work/eval2.log"
$check eval-vs-train "$work/run/metrics.jsonl" "$work/eval2/eval.json" 1000
cmp "$work/eval1/eval_samples.csv" "$work/eval2/eval_samples.csv"

n=2000
"$mnist_png" $src/t10k-images-idx3-ubyte.gz $src/t10k-labels-idx1-ubyte.gz "$work/png" $n
rm "$work/png/labels.txt"
"$mpiexec" --oversubscribe -np 2 "$dist" predict "$ckpt" "$work/png" --out "$work/pred" \
    --batch 64 > "$work/pred.out"
cmp "$work/pred.out" "$work/pred/predictions.jsonl"
$check predict-vs-eval "$work/pred/predictions.jsonl" "$work/eval1/eval_samples.csv" $n

# Bad inputs among good ones: one error line each, the good ones predicted, exit status 1.
printf 'not an image\n' > "$work/bad/notes.jpg"
head -c 120 "$work/png/00001.png" > "$work/bad/truncated.png"
mkdir -p "$work/bad/empty"
set +e
"$mpiexec" --oversubscribe -np 2 "$dist" predict "$ckpt" "$work/png/00000.png" \
    "$work/bad/missing.png" "$work/bad/notes.jpg" "$work/bad/truncated.png" \
    "$srcdir/tests/fixtures/predict/photo.jpg" "$work/bad/empty" "$work/png/00002.png" \
    > "$work/bad.out" 2> "$work/bad.err"
rc=$?
set -e
cat "$work/bad.err"
[ $rc -eq 1 ] || { echo "FAILED: exit status $rc with bad inputs (want 1)"; exit 1; }
# one line per input in order: predictions, and {"file", "error"} for the bad ones
[ "$(wc -l < "$work/bad.out")" -eq 7 ] && head -1 "$work/bad.out" | grep -q '00000.png.*"top"' &&
    tail -1 "$work/bad.out" | grep -q '00002.png.*"top"' &&
    [ "$(grep -c '"error": ' "$work/bad.out")" -eq 5 ] &&
    sed -n 2p "$work/bad.out" | grep -q 'missing.png' || {
    echo "FAILED: not one line per input in input order"; cat "$work/bad.out"; exit 1; }
for what in 'missing.png: No such file' 'notes.jpg: ' 'truncated.png: ' \
            'photo.jpg is a colour image' 'empty: no .jpg' '5 of 7 files could not'; do
    grep -q "$what" "$work/bad.err" || { echo "FAILED: no error line with '$what'"; exit 1; }
done
[ "$(grep -c '^cnn-dist predict: ' "$work/bad.err")" -eq 5 ] || {
    echo "FAILED: want one line per bad file"; exit 1; }

# A checkpoint of another model: refused, naming the first tensor that differs.
if "$dist" predict "$ckpt" --config "$srcdir/configs/fashion_cnn.yaml" "$work/png/00000.png" \
    > /dev/null 2> "$work/other.err"; then
    echo "FAILED: a checkpoint of another model was accepted"; exit 1
fi
cat "$work/other.err"
grep -q "checkpoint .*'.*'" "$work/other.err" || { echo "FAILED: no tensor named"; exit 1; }
# A model after 2 steps predicts few classes: the others' precision reads "-", explained.
"$dist" "$srcdir/configs/lenet5_fashion.yaml" --set data.train="$work/data/t10k.h5" \
    --set data.val=null --set run.dir="$work/early" --set train.max_steps=2 > /dev/null 2>&1
"$dist" eval "$work"/early/ckpt-*.h5 --data "$work/data/t10k.h5" > "$work/early.log"
grep -Eq '^Trouser +- ' "$work/early.log" && ! grep -qi nan "$work/early.log" &&
    grep -q '^(-: a class never predicted has no precision' "$work/early.log" || {
    echo "FAILED: never-predicted classes in eval's table"; cat "$work/early.log"; exit 1; }
echo "predict and eval from a checkpoint alone: ok"
