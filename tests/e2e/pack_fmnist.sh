#!/bin/sh
# e2e: pack the real Fashion-MNIST (Debian package dataset-fashion-mnist) into 2 shards per
# split (raw, and the test split also encoded as PNGs), describe it with `cnn-pack info
# --verify`, and check it with fmnist_check.
# usage: pack_fmnist.sh CNN_PACK FMNIST_CHECK WORKDIR; exit 77 (skipped) without the data.
set -eu
pack=$1 check=$2 work=$3
src=/usr/share/datasets/fashion-mnist
if [ ! -r $src/train-images-idx3-ubyte.gz ]; then
    echo "skipped: $src not found (apt-get install dataset-fashion-mnist)"
    exit 77
fi
rm -rf "$work" && mkdir -p "$work"
for split in train t10k; do
    img=$src/$split-images-idx3-ubyte.gz lab=$src/$split-labels-idx1-ubyte.gz
    "$pack" mnist "$img" "$lab" --out "$work/$split" --shards 2
    "$pack" info "$work/$split.h5" --verify | tee "$work/$split.info"
    grep -q "index and blob checksums ok" "$work/$split.info"
    "$check" "$work/$split.h5" "$img" "$lab" $split
done
# The test split once more as PNGs (--mode encoded): the same pixels after decoding.
img=$src/t10k-images-idx3-ubyte.gz lab=$src/t10k-labels-idx1-ubyte.gz
"$pack" mnist "$img" "$lab" --out "$work/t10k-enc" --shards 2 --mode encoded
"$pack" info "$work/t10k-enc.h5" --verify | tee "$work/t10k-enc.info"
grep -q "^mode      encoded$" "$work/t10k-enc.info"
"$check" "$work/t10k-enc.h5" "$img" "$lab" t10k
grep -q "^samples   60000$" "$work/train.info"
grep -q "^samples   10000$" "$work/t10k.info"
ls "$work" | grep -q tmp && { echo "temporary files left in $work"; exit 1; }
rm -rf "$work"
echo "Fashion-MNIST packed and verified"
