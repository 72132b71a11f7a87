#!/bin/sh
# The README's main job: installs what is missing, builds, packs Fashion-MNIST (Debian
# package dataset-fashion-mnist) into data/fashion-mnist/ once, trains a config on it with
# 2 MPI ranks in a fresh run directory, and prints the test accuracy.
#   tools/train-fashion.sh [CONFIG [cnn-dist options ...]]   (default configs/lenet5_fashion.yaml)
# Environment: RANKS (default 2).
set -eu
cd "$(dirname "$0")/.."
case "${1:-}" in
-h | --help) sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
-*) echo "train-fashion: unknown option '$1'; usage: tools/train-fashion.sh [CONFIG [cnn-dist options ...]]" >&2
    exit 2 ;;
esac
[ -z "${1:-}" ] || [ -r "$1" ] || { echo "train-fashion: cannot read CONFIG '$1'" >&2; exit 2; }
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"

src=/usr/share/datasets/fashion-mnist
for split in train t10k; do
    [ -f data/fashion-mnist/$split.h5 ] ||
        build/cnn-pack mnist $src/$split-images-idx3-ubyte.gz $src/$split-labels-idx1-ubyte.gz \
            --out data/fashion-mnist/$split --shards 2
done

config=${1:-configs/lenet5_fashion.yaml}
[ $# -gt 0 ] && shift
run=runs/$(basename "$config" .yaml)-$(date +%Y%m%d-%H%M%S)
ranks=${RANKS:-2}
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# More ranks than cores is allowed (each rank then gets one thread).
mpirun --oversubscribe -np "$ranks" build/cnn-dist "$config" --set run.dir="$run" "$@"

last=$(grep '"split": "val"' "$run/metrics.jsonl" | tail -1)
top1=$(echo "$last" | sed -n 's/.*"top1": \([0-9.]*\).*/\1/p')
n=$(echo "$last" | sed -n 's/.*"n": \([0-9]*\).*/\1/p')
[ -n "$top1" ] || { echo "train-fashion: no evaluation in $run/metrics.jsonl" >&2; exit 1; }
awk -v a="$top1" -v n="$n" -v r="$run" -v c="$config" 'BEGIN {
    printf "test accuracy of %s: %.2f%% (top-1 over %d images); run directory %s\n", c, 100 * a, n, r }'
