#!/bin/bash
# Parameter counts of bench/torch_learn.py's networks against `cnn-dist --summary`, for the
# configs and sets of issue #17's learning check: prints a table, exits 1 on a mismatch or
# a side that fails. Usage: bench/torch_learn_params.sh [BUILD_DIR] (default: build).
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seg="--set model.args.width=16 --set model.input=[1,64,64] --set model.args.num_classes=11"
rows=(
    "fcn|configs/fcn.yaml|$seg"
    "unet|configs/unet.yaml|$seg"
    "segnet|configs/segnet.yaml|$seg"
    "unet_denoise|configs/unet_denoise.yaml|--set model.args.channels=1 --set model.input=[1,64,64]"
    "resnet20|configs/resnet20_cifar.yaml|--set model.input=[1,32,32]"
    "vgg|configs/vgg11_bn.yaml|--set model.args.num_classes=10"
    "alexnet|configs/alexnet.yaml|--set model.args.num_classes=10"
)
status=0
printf '%-14s %-30s %14s %14s  %s\n' model config ours peer verdict
for row in "${rows[@]}"; do
    IFS='|' read -r model cfg sets <<<"$row"
    # shellcheck disable=SC2086
    ours=$("$build/cnn-dist" "$cfg" $sets --summary 2>&1 |
        sed -n 's/^Total: \([0-9,]*\) parameters.*/\1/p' | tr -d ,)
    # shellcheck disable=SC2086
    "$build/cnn-dist" "$cfg" $sets --print-config >"$tmp/c.yaml" 2>/dev/null
    peer=$("$py" "$here/torch_learn.py" --config "$tmp/c.yaml" --model "$model" --params-only \
        2>/dev/null | sed -n 's/.*"params": \([0-9]*\).*/\1/p')
    verdict=ok
    if [ -z "$ours" ] || [ -z "$peer" ] || [ "$ours" != "$peer" ]; then
        verdict=MISMATCH
        status=1
    fi
    printf '%-14s %-30s %14s %14s  %s\n' "$model" "$(basename "$cfg")" "${ours:--}" \
        "${peer:--}" "$verdict"
done
exit $status
