#!/bin/sh
# e2e: `cnn-dist predict` with dense models, whole images of any size (reflect-padded to the
# model's size multiple and cropped back). A miniature SegNet (tests/e2e/tiny_segnet.yaml:
# max-unpooling with the encoder's indices) and configs/unet_denoise.yaml, each trained two
# steps on synthetic data, are applied on 2 ranks to a 500x375 photo, a gray 48x32 PNG and an
# EXIF-rotated JPEG: one JSON line per image in input order; masks (8-bit gray, class ids),
# overlays (RGB) and denoised images (the input's channels) at each image's own size, read
# back from their PNG headers; class fractions summing to 1; with --noise-std, the PSNR of
# the noisy input and of the output. Without --out a dense model is a usage error (2).
# `cnn-dist eval` of the SegNet on a dataset packed by `cnn-pack segmentation`: per-class
# IoU from the confusion matrix, averaging to the mIoU (Python's json reads eval.json).
# usage: predict_dense.sh MPIEXEC CNN_DIST CNN_PACK SOURCE_DIR WORKDIR
set -eu
mpiexec=$1 dist=$2 pack=$3 srcdir=$4 work=$5
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
check="/usr/bin/python3 $srcdir/tests/e2e/predict_check.py"
img="$srcdir/tests/fixtures/images"
rm -rf "$work" && mkdir -p "$work/in"
cp "$srcdir/tests/fixtures/predict/photo.jpg" "$img/exif6.jpg" "$work/in/"
cp "$img/gray.png" "$work/in/small_gray.png"
sizes() { # PNG width and height from the IHDR chunk, with Python's struct
    /usr/bin/python3 -c 'import struct, sys
for p in sys.argv[1:]:
    b = open(p, "rb").read(26)
    assert b[:8] == b"\x89PNG\r\n\x1a\n", p
    w, h = struct.unpack(">II", b[16:24])
    print(w, h, b[25])' "$@"
}

"$dist" "$srcdir/tests/e2e/tiny_segnet.yaml" --set run.dir="$work/seg" > "$work/seg.log" 2>&1
"$mpiexec" --oversubscribe -np 2 "$dist" predict "$work/seg/ckpt-000000002.h5" "$work/in" \
    --out "$work/seg_out" --batch 2 > "$work/seg.jsonl"
cat "$work/seg.jsonl"
$check segment "$work/seg.jsonl" 4 3
# exif6.jpg (orientation 6) is stored 24 wide, 16 high: upright (PIL's exif_transpose) 16 x 24.
got=$(sizes "$work/seg_out/exif6_mask.png" "$work/seg_out/photo_mask.png" \
            "$work/seg_out/small_gray_overlay.png" | tr '\n' ' ')
echo "mask/overlay sizes (w h color type): $got"
want="$(sizes "$img/gray.png" | cut -d' ' -f1-2)"
[ "$got" = "16 24 0 500 375 0 $want 2 " ] || { echo "FAILED: want 16 24 0 500 375 0 $want 2"; exit 1; }

mkdir -p "$work/segdata/img" "$work/segdata/mask"
cp "$img/rgb_base.jpg" "$work/segdata/img/a.jpg"; cp "$img/mask_l.png" "$work/segdata/mask/a.png"
cp "$img/rgb.png" "$work/segdata/img/b.png"; cp "$img/mask_p.png" "$work/segdata/mask/b.png"
"$pack" segmentation "$work/segdata/img" "$work/segdata/mask" --out "$work/segdata/set" > /dev/null
"$mpiexec" --oversubscribe -np 2 "$dist" eval "$work/seg/ckpt-000000002.h5" \
    --data "$work/segdata/set.h5" --set eval.batch_size=2 --out "$work/seg_eval"
$check segment-eval "$work/seg_eval/eval.json" 4

# cnn-pack mnist-scenes: Fashion-MNIST items on 64x64 canvases, raw and as PNG (the same
# pixels: the same statistics), evaluated with the SegNet's architecture for 11 classes.
fm=/usr/share/datasets/fashion-mnist
if [ -r $fm/t10k-images-idx3-ubyte.gz ]; then
    for mode in raw encoded; do
        "$pack" mnist-scenes $fm/t10k-images-idx3-ubyte.gz $fm/t10k-labels-idx1-ubyte.gz \
            --out "$work/scenes/$mode" --count 64 --size 64 --seed 3 --mode $mode --shards 2
        "$pack" info "$work/scenes/$mode.h5" --verify | grep -e '^mean' -e '^std' -e '^classes' \
            > "$work/scenes/$mode.txt"
    done
    diff "$work/scenes/raw.txt" "$work/scenes/encoded.txt"
    grep -q 'classes   11: background, T-shirt/top' "$work/scenes/raw.txt"
    "$dist" "$srcdir/tests/e2e/tiny_segnet.yaml" --set data.synthetic=0 \
        --set data.train="$work/scenes/encoded.h5" --set data.val="$work/scenes/raw.h5" \
        --set 'model.input=[1,64,64]' --set model.layers.10.out=11 --set train.max_steps=2 \
        --set eval.every=1 --set log.pictures=false --set run.dir="$work/scenes_run" \
        > "$work/scenes_run.log" 2>&1 || { tail "$work/scenes_run.log"; exit 1; }
    "$dist" eval "$work/scenes_run/ckpt-000000002.h5" --out "$work/scenes_eval" > /dev/null
    $check segment-eval "$work/scenes_eval/eval.json" 11
fi

if "$dist" predict "$work/seg/ckpt-000000002.h5" "$work/in" > /dev/null 2> "$work/noout.err"; then
    echo "FAILED: a segmenter without --out"; exit 1
fi
grep -q -- '--out DIR' "$work/noout.err"

"$dist" "$srcdir/configs/unet_denoise.yaml" --set data.synthetic=8 --set data.batch_size=4 \
    --set train.max_steps=2 --set eval.every=0 --set data.workers=1 \
    --set run.dir="$work/den" > "$work/den.log" 2>&1
"$mpiexec" --oversubscribe -np 2 "$dist" predict "$work/den/ckpt-000000002.h5" "$work/in" \
    --out "$work/den_out" --noise-std 0.1 > "$work/den.jsonl"
cat "$work/den.jsonl"
$check denoise "$work/den.jsonl" 3
got=$(sizes "$work/den_out/photo_denoised.png" "$work/den_out/small_gray_noisy.png" | tr '\n' ' ')
[ "$got" = "500 375 2 $want 2 " ] || { echo "FAILED: denoised sizes $got"; exit 1; }
echo "dense predictions: ok"
