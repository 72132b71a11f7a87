#!/bin/sh
# e2e: `cnn-pack cifar` on CIFAR-10 files written here in the binary version's format (five
# training batches, the test batch, batches.meta.txt; Python's struct, random pixels), then
# configs/resnet20_cifar.yaml trains two steps and evaluates on the packed sets: the path a
# user with CIFAR takes. `cnn-pack info` must show the counts, the class names and the
# per-channel mean Python computes from the same bytes.
# usage: pack_cifar.sh CNN_PACK CNN_DIST SOURCE_DIR WORKDIR
set -eu
pack=$1 dist=$2 srcdir=$3 work=$4
rm -rf "$work" && mkdir -p "$work/cifar-10-batches-bin"
d="$work/cifar-10-batches-bin"
/usr/bin/python3 - "$d" <<'PY' > "$work/mean.txt"
import os, random, sys
d = sys.argv[1]
rng = random.Random(5)
sums = [0, 0, 0]
n_train = 0
for name, n in [("data_batch_%d.bin" % b, 12) for b in range(1, 6)] + [("test_batch.bin", 20)]:
    with open(os.path.join(d, name), "wb") as f:
        for r in range(n):
            px = bytes(rng.randrange(256) for _ in range(3072))
            f.write(bytes([rng.randrange(10)]) + px)
            if name != "test_batch.bin":
                n_train += 1
                for c in range(3):
                    sums[c] += sum(px[c * 1024:(c + 1) * 1024])
with open(os.path.join(d, "batches.meta.txt"), "w") as f:
    f.write("\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                       "horse", "ship", "truck"]) + "\n")
print("mean      " + " ".join("%.4f" % (s / (n_train * 1024) / 255) for s in sums))
PY
"$pack" cifar "$d" --out "$work/train" --shards 2
"$pack" cifar "$d" --out "$work/test" --split test
"$pack" info "$work/train.h5" --verify > "$work/info.txt"
cat "$work/info.txt"
grep -q '^samples   60$' "$work/info.txt" && grep -q '^shape     32x32x3' "$work/info.txt" &&
    grep -q 'classes   10: airplane, automobile' "$work/info.txt" &&
    grep -qx "$(cat "$work/mean.txt")" "$work/info.txt" || {
    echo "FAILED: cnn-pack info does not show what was packed (mean: $(cat "$work/mean.txt"))"; exit 1; }
"$dist" "$srcdir/configs/resnet20_cifar.yaml" --set data.train="$work/train.h5" \
    --set data.val="$work/test.h5" --set data.batch_size=8 --set train.max_steps=2 \
    --set log.pictures=false --set run.dir="$work/run" > "$work/run.log" 2>&1 || {
    tail -20 "$work/run.log"; exit 1; }
grep '"split": "val"' "$work/run/metrics.jsonl" | grep -q '"n": 20' || {
    echo "FAILED: no evaluation of the 20 test images"; exit 1; }
echo "cnn-pack cifar: ok"
