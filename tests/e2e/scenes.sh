#!/bin/sh
# e2e: the README's path "Recognising scenes in your own photos" on generated photos
# (scene_photos: 4 scene classes drawn from their own palettes and layouts, JPEG):
#  - 160 training photos (shorter side 150-220, longer 1-1.4 times that) and 48 validation
#    photos whose shorter side is 128 are packed with `cnn-pack imagefolder --resize 128` (the validation files
#    keep their bytes, as MiniPlaces' 128x128 photos do, so predict on the files sees the
#    pixels eval sees);
#  - configs/scenes_resnet18.yaml (128x128, its augmentation, label smoothing, warmup and
#    cosine) trains 2 epochs of 10 steps with mpirun -np 2, with 4 classes; its last
#    evaluation is above chance (top-1 > 0.5);
#  - `cnn-dist eval` on 1 rank equals that evaluation (loss, top-1, top-5, per class);
#  - `cnn-dist predict` on 2 ranks over the validation folder gives eval's class and
#    probability for every file, in order, named by the training set's class names (and
#    "photos/val/" gives no doubled slash in the file names); on two training photos of
#    other sizes (one's own photos), one line each with those names;
#  - a model with more outputs than the data's classes (num_classes forgotten) warns once.
# usage: scenes.sh MPIEXEC CNN_DIST CNN_PACK SCENE_PHOTOS SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 photos=$4 srcdir=$5 work=$6
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
check="/usr/bin/python3 $srcdir/tests/e2e/predict_check.py"
names=beach,forest,night_city,snow_field
rm -rf "$work" && mkdir -p "$work" && cd "$work"

"$photos" photos/train 40 150 220 1
"$photos" photos/val 12 128 128 2
for split in train val; do
    "$pack" imagefolder photos/$split --out data/$split --resize 128 --shards 2
done
"$pack" info data/train.h5 > info.txt
grep -q "^classes   4: beach, forest, night_city, snow_field$" info.txt || {
    echo "FAILED: classes of the packed set"; cat info.txt; exit 1; }

"$mpiexec" --oversubscribe -np 2 "$dist" "$srcdir/configs/scenes_resnet18.yaml" \
    --set data.train=data/train.h5 --set data.val=data/val.h5 --set run.dir=run \
    --set model.args.num_classes=4 --set data.batch_size=16 --set data.workers=1 \
    --set threads=1 --set train.epochs=2 --set sched.warmup_epochs=0.5 --set optim.lr=0.2 \
    --set log.every=5 > train.log 2>&1 || {
    echo "FAILED: training"; tail -20 train.log; exit 1; }
grep -E '^(epoch|eval)' train.log
grep -q '"split": "val"' run/metrics.jsonl || { echo "FAILED: no evaluation line"; exit 1; }
ckpt=$(ls run/ckpt-*.h5 | tail -1)

"$dist" eval "$ckpt" --out eval | tee eval.log
$check eval-vs-train run/metrics.jsonl eval/eval.json 12
top1=$(awk '$3 == "top-1" { print $4 }' eval.log)
# 4 classes: chance is 0.25; the scenes differ in colour and layout (measured: 1.0)
awk -v t="$top1" 'BEGIN { exit !(t > 0.5) }' || {
    echo "FAILED: top-1 $top1 after 20 steps; the recipe did not learn the scenes"; exit 1; }

"$mpiexec" --oversubscribe -np 2 "$dist" predict "$ckpt" photos/val/ --out pred > pred.out
cmp pred.out pred/predictions.jsonl
! grep -q '//' pred.out || { echo "FAILED: a doubled slash in a file name"; exit 1; }
$check predict-vs-eval pred/predictions.jsonl eval/eval_samples.csv 48
$check classes pred/predictions.jsonl $names 48
"$dist" predict "$ckpt" photos/train/beach/00000.jpg photos/train/snow_field/00139.jpg \
    --top 2 | tee own.out
$check classes own.out $names 2

# num_classes left at the config's 100 for these 4 classes: one warning (rank 0) before
# training, naming the override.
"$mpiexec" --oversubscribe -np 2 "$dist" "$srcdir/configs/scenes_resnet18.yaml" \
    --set data.train=data/train.h5 --set data.val=null --set run.dir=run100 \
    --set data.batch_size=2 --set data.workers=1 --set threads=1 --set train.max_steps=1 \
    --set sched.warmup_epochs=0 --set log.pictures=false --set log.tensorboard=false \
    > run100.log 2>&1 || {
    echo "FAILED: training with 100 outputs"; tail -20 run100.log; exit 1; }
want='data/train.h5 has 4 classes but the model outputs 100: .*num_classes=4'
[ "$(grep -c "$want" run100.log)" -eq 1 ] || {
    echo "FAILED: want one warning about num_classes"; cat run100.log; exit 1; }
echo "scenes: pack, train, eval and predict: ok"
