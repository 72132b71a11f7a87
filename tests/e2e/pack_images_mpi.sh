#!/bin/sh
# mpi: `mpirun -np 2 cnn-pack imagefolder|segmentation|imagenet-val` (each rank decodes and
# packs only its own shards, rank 0 writes the master) writes the same dataset as one
# process: equal `info --verify` (counts, classes, mean/std) and equal shard checksums, with
# an unreadable file skipped and segmentation classes found across ranks; imagenet-val
# --classes-from numbers names as the training master; a --strict failure on one rank ends
# both with exit 1 and no file left.
# usage: pack_images_mpi.sh MPIEXEC CNN_PACK FIXTURES WORKDIR (FIXTURES: tests/fixtures/images)
set -eu
mpiexec=$1 pack=$2 fx=$3 work=$4
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are still live at exit (see pack_fmnist_mpi.sh).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
rm -rf "$work" && mkdir -p "$work"
cd "$work"
mkdir -p tree/bird tree/cat/sub tree/dog seg/img seg/mask val
cp "$fx/long.jpg" tree/bird/e.jpg; cp "$fx/gray.jpg" tree/bird/f.jpg
cp "$fx/rgb_base.jpg" tree/cat/a.jpg; cp "$fx/one.png" tree/cat/z.png
cp "$fx/rgb.png" tree/cat/sub/b.png; cp "$fx/exif6.jpg" tree/dog/c.jpg
cp "$fx/palette.png" tree/dog/p.png; cp "$fx/truncated.jpg" tree/dog/t.jpg
# Rank 0's mask has ids 0, 1; rank 1's 0..3: the classes come from both ranks.
cp "$fx/rgb_base.jpg" seg/img/a.jpg; cp "$fx/mask_l.png" seg/mask/a.png
cp "$fx/rgb.png" seg/img/b.png; cp "$fx/mask_p.png" seg/mask/b.png
cp "$fx/rgb_base.jpg" val/x1.jpg; cp "$fx/rgb.png" val/x2.png; cp "$fx/gray.jpg" val/x3.jpg
printf 'x1.jpg dog\nx2.png bird\nx3.jpg cat\n' > val.txt

# same NAME ARGS...: packs with 1 process and with 2 ranks, compares the two datasets.
same() {
    name=$1; shift
    "$mpiexec" -np 1 "$pack" "$@" --out "$work/one/$name" --threads 2
    "$mpiexec" -np 2 --oversubscribe "$pack" "$@" --out "$work/two/$name" --threads 1
    for n in one two; do
        "$pack" info "$work/$n/$name.h5" --verify | grep -v -e '^dataset' -e '^  ' > $n.txt
        "$pack" info "$work/$n/$name.h5" | grep '^  ' | sed "s|.*/$n/||" > $n.shards
    done
    diff one.txt two.txt
    diff one.shards two.shards
    [ "$(wc -l < one.shards)" -ge 2 ] || { echo "$name: expected 2+ shards"; exit 1; }
}
same tree imagefolder tree --shards 3
same raw imagefolder tree --shards 4 --mode raw --size 8x8
same seg segmentation seg/img seg/mask --shards 2
grep -q 'classes   4: 0, 1, 2, 3' one.txt || { echo "segmentation: not 4 classes"; exit 1; }
same val imagenet-val val val.txt --classes-from one/tree.h5 --shards 2
grep -q 'classes   3: bird, cat, dog' one.txt || { echo "val: not the tree's classes"; exit 1; }

# --strict: the truncated file lies in rank 1's shard only; rank 0's shards are fine.
if "$mpiexec" -np 2 --oversubscribe "$pack" imagefolder tree --out "$work/fail/x" \
    --shards 2 --strict 2> fail.err; then
    echo "--strict with an unreadable file succeeded"; exit 1
fi
grep -q 't.jpg' fail.err || { echo "no message naming the file:"; cat fail.err; exit 1; }
[ -z "$(ls fail 2>/dev/null)" ] || { echo "files left behind: $(ls fail)"; exit 1; }
cd / && rm -rf "$work"
echo "2 ranks wrote the same datasets as 1; a failing rank left nothing"
