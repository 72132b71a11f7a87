#!/bin/sh
# mpi: `mpirun -np 2 cnn-pack mnist` (each rank packs its own shards, rank 0 the master)
# writes the same shards as one process: equal counts and checksums, equal mean/std; and a
# run that fails on every rank leaves no file and exits 1 without hanging.
# usage: pack_fmnist_mpi.sh MPIEXEC CNN_PACK WORKDIR; exit 77 (skipped) without the data.
set -eu
mpiexec=$1 pack=$2 work=$3
src=/usr/share/datasets/fashion-mnist
if [ ! -r $src/t10k-images-idx3-ubyte.gz ]; then
    echo "skipped: $src not found (apt-get install dataset-fashion-mnist)"
    exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are still live at exit: under ASan (Asan builds) leak checking
# would report them, not ours; memory errors are still caught.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
img=$src/t10k-images-idx3-ubyte.gz lab=$src/t10k-labels-idx1-ubyte.gz
rm -rf "$work" && mkdir -p "$work"
"$pack" mnist "$img" "$lab" --out "$work/one" --shards 3
"$mpiexec" -np 2 --oversubscribe "$pack" mnist "$img" "$lab" --out "$work/two" --shards 3
"$pack" info "$work/one.h5" --verify | grep -v -e '^dataset' -e '^  ' > "$work/one.txt"
"$pack" info "$work/two.h5" --verify | grep -v -e '^dataset' -e '^  ' > "$work/two.txt"
diff "$work/one.txt" "$work/two.txt"
"$pack" info "$work/one.h5" | grep '^  ' | sed 's/.*one-//' > "$work/one.shards"
"$pack" info "$work/two.h5" | grep '^  ' | sed 's/.*two-//' > "$work/two.shards"
diff "$work/one.shards" "$work/two.shards"
# Output folders are created, so the failure is a folder that cannot exist: a path through a
# regular file (root can write anywhere else).
touch "$work/afile"
if "$mpiexec" -np 2 --oversubscribe "$pack" mnist "$img" "$lab" --out "$work/afile/sub/x" --shards 3
then
    echo "packing below a regular file succeeded"; exit 1
fi
rm "$work/afile"
[ -z "$(ls "$work" | grep -e tmp -e '^x')" ] || { echo "files left behind"; exit 1; }
rm -rf "$work"
echo "2 ranks wrote the same shards as 1; a failing run left nothing"
