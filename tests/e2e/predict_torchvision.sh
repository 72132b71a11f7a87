#!/bin/sh
# e2e: `cnn-dist predict` with torchvision's resnet18 gives torchvision's top-5 classes and
# probabilities (within 1e-4) on a photo-like JPEG, through torchvision's own eval
# transform (Resize(256), CenterCrop(224), ImageNet normalization). Weights: the Philox
# weights of tests/fixtures/torchvision/resnet18.h5 in tools/torch_export.py's layout (no
# config, no class names: --config, --set and --classes give them). The reference is
# tests/fixtures/predict/resnet18_top5.json (tools/fixtures/predict_torchvision.py, Debian's
# torchvision with PIL's resize; ours follows torch's uint8 resize, 6e-5 apart at most).
# usage: predict_torchvision.sh CNN_DIST TORCHVISION_EQUIV SOURCE_DIR WORKDIR
set -eu
dist=$1 equiv=$2 srcdir=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
"$equiv" "$srcdir/configs/resnet18.yaml" "$srcdir/tests/fixtures/torchvision/resnet18.h5" \
    --write-weights "$work/resnet18.h5"
i=0
while [ $i -lt 1000 ]; do echo "class_$i"; i=$((i + 1)); done > "$work/classes.txt"
"$dist" predict "$work/resnet18.h5" --config "$srcdir/configs/resnet18.yaml" \
    --set data.eval_resize=256 --set 'data.mean=[0.485,0.456,0.406]' \
    --set 'data.std=[0.229,0.224,0.225]' --classes "$work/classes.txt" --top 5 \
    "$srcdir/tests/fixtures/predict/photo.jpg" | tee "$work/pred.jsonl"
/usr/bin/python3 "$srcdir/tests/e2e/predict_check.py" torchvision "$work/pred.jsonl" \
    "$srcdir/tests/fixtures/predict/resnet18_top5.json" 1e-4
