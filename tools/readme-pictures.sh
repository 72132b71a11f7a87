#!/bin/sh
# Regenerates the pictures the README shows (docs/img/): the README's main job (LeNet-5 on
# Fashion-MNIST, tools/train-fashion.sh: 2 ranks, 5 epochs) in runs/readme-pictures, then
# its curves.png, filters.png, samples.png and confusion.png copied to docs/img/fashion-*.png.
# Usage: tools/readme-pictures.sh (after tools/train-fashion.sh has built and packed once)
set -eu
cd "$(dirname "$0")/.."
[ $# -eq 0 ] || { echo "usage: tools/readme-pictures.sh" >&2; exit 2; }
[ -x build/cnn-dist ] && [ -f data/fashion-mnist/t10k.h5 ] || {
    echo "readme-pictures: run tools/train-fashion.sh once first (it builds and packs)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run=runs/readme-pictures
rm -rf "$run"
mpirun --oversubscribe -np 2 build/cnn-dist configs/lenet5_fashion.yaml --set run.dir="$run"
mkdir -p docs/img
for p in curves filters samples confusion; do
    cp "$run/$p.png" "docs/img/fashion-$p.png"
done
echo "readme-pictures: docs/img/fashion-{curves,filters,samples,confusion}.png from $run"
