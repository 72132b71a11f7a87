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
# A validation split carved from the training files: --range 59000:60000 holds the idx
# files' last 1000 images and labels, in order (read back by h5py and Python's gzip).
"$pack" mnist $src/train-images-idx3-ubyte.gz $src/train-labels-idx1-ubyte.gz \
    --out "$work/val" --range 59000:60000
/usr/bin/python3 - "$work/val-00000-of-00001.h5" $src <<'PY'
import gzip, sys
import h5py, numpy as np
shard, src = sys.argv[1], sys.argv[2]
img = np.frombuffer(gzip.open(src + "/train-images-idx3-ubyte.gz").read()[16:], np.uint8)
lab = np.frombuffer(gzip.open(src + "/train-labels-idx1-ubyte.gz").read()[8:], np.uint8)
with h5py.File(shard, "r") as f:
    assert (f["label"][:] == lab[59000:]).all(), "labels of --range differ"
    assert (f["blob"][:] == img.reshape(-1, 784)[59000:].reshape(-1)).all(), "pixels differ"
print("--range 59000:60000: the last 1000 images and labels")
PY
"$pack" mnist $src/train-images-idx3-ubyte.gz $src/train-labels-idx1-ubyte.gz \
    --out "$work/bad" --range 59000:60001 2> "$work/bad.err" && exit 1
grep -q "holds 60000 images" "$work/bad.err"
grep -q "^samples   60000$" "$work/train.info"
grep -q "^samples   10000$" "$work/t10k.info"
ls "$work" | grep -q tmp && { echo "temporary files left in $work"; exit 1; }
rm -rf "$work"
echo "Fashion-MNIST packed and verified"
