#!/bin/sh
# Bundles the GPU test binaries, the layer fixtures and the non-system shared libraries they
# load (found with ldd) into one folder that runs on a GPU node that has only the NVIDIA
# driver and CUDA 13's cudart/cuBLAS/cuDNN (e.g. PyTorch's nvidia-* wheels): our Debian
# libraries (oneDNN, libyaml, libgomp, OpenCL loader) travel, the CUDA libraries and the C
# runtime do not.
#   tools/gpu-bundle.sh [BUILD_DIR] [OUT_DIR]      (defaults: build, gpu-bundle)
#   OUT_DIR/run-gpu-tests.sh                       (on the GPU node)
#   OUT_DIR/run-gpu-bench.sh [gpu-bench options]   (on the GPU node; needs python3 + torch)
#   OUT_DIR/run-gpu-all.sh LOG_DIR                 (tests, conv bench, training against
#                                                   PyTorch: one call of a short GPU lease)
# The run scripts find the CUDA libraries in $CNN_CUDA_LIBS (colon-separated folders) or,
# when unset, in the nvidia/*/lib folders of the python3 on PATH (PyTorch's wheels).
set -eu
build=${1:-build}
out=${2:-gpu-bundle}
here=$(cd "$(dirname "$0")/.." && pwd)
required="$build/tests/layer_fixture $build/tests/gpu_vs_cpu"
# Skipped (with a note) when this build lacks them. cnn-dist and cnn-pack bring Open MPI's
# runtime along (components, orted, help files) for run-gpu-train.sh.
optional="$build/bench/gpu-bench $build/tests/gpu_optim_vs_cpu $build/tests/gpu_xent_soft_vs_cpu
          $build/tests/test_optim $build/tests/test_ema $build/tests/test_net_channels_last
          $build/cnn-dist $build/cnn-pack"
bins=""
for b in $required; do
    [ -x "$b" ] || { echo "gpu-bundle: $b is missing; build with CUDA first" >&2; exit 1; }
    bins="$bins $b"
done
# A CPU-only build has these binaries too, and its bundle would only skip on the GPU node.
ldd "$build/tests/layer_fixture" | grep -q libcudart || {
    echo "gpu-bundle: $build is not a CUDA build (configure it with -DCNN_CUDA=ON)" >&2; exit 1; }
for b in $optional; do
    if [ -x "$b" ]; then bins="$bins $b"; else echo "gpu-bundle: note: $b not built; left out" >&2; fi
done
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/fixtures"
cp $bins "$out/bin/"
cp "$here"/tests/fixtures/layers/*.bin "$out/fixtures/"
cp "$here"/tests/fixtures/optim/optim.bin "$out/"
cp "$here/bench/torch_gpu_conv.py" "$here/bench/torch_gpu_train.py" "$out/"
# System C runtime and the CUDA stack stay behind; everything else travels.
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libgcc_s\.|libstdc\+\+\.|libcuda\.|libcudart\.|libcublas|libcudnn|libnccl)'
for b in $bins; do
    ldd "$b" | awk '$3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
    echo "$name" | grep -Eq "$skip" || cp -L "$path" "$out/lib/$name"
done
cat > "$out/run-gpu-tests.sh" <<'RUN'
#!/bin/sh
# Runs every layer fixture on the CUDA backend in f32, bf16 and f16, in NCHW and channels-last (NHWC), then the CPU-vs-GPU comparisons (each case in the three precisions); exit 0 when all pass (77 = no GPU).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${CNN_CUDA_LIBS:-}" ]; then
    CNN_CUDA_LIBS=$(python3 -c 'import glob, os, nvidia; print(":".join(sorted(glob.glob(os.path.join(os.path.dirname(nvidia.__path__[0] + "/x"), "*", "lib")))))' 2>/dev/null || true)
fi
export LD_LIBRARY_PATH="$here/lib:${CNN_CUDA_LIBS}:${LD_LIBRARY_PATH:-}"
pass=0; fail=0; skip=0
# layers NAME ARGS...: every fixture given in one process (one CUDA context)
layers() {
    name=$1; shift
    "$here/bin/layer_fixture" --device cuda "$@" > "$here/layers-$name.log" 2>&1
    rc=$?
    echo "gpu layer tests $name: $(tail -1 "$here/layers-$name.log")"
    case $rc in
        0) pass=$((pass + 1)) ;;
        77) skip=$((skip + 1)) ;;
        *) fail=$((fail + 1)); grep -B12 ": FAILED" "$here/layers-$name.log" | head -80 ;;
    esac
}
for lay in nchw nhwc; do
    for dt in f32 bf16 f16; do
        # nhwc skips cases without a 4-D input
        layers "$lay-$dt" --dtype $dt --layout $lay "$here"/fixtures/*.bin
    done
done
# channels-last convolutions on NCHW copies, the route where cuDNN has no NHWC algorithm
for dt in f32 bf16; do
    layers "nhwc-via-nchw-$dt" --dtype $dt --layout nhwc --conv-via-nchw "$here"/fixtures/conv*.bin
done
# CPU against GPU on fresh random inputs (every case of tests/gpu/gpu_vs_cpu.c).
"$here/bin/gpu_vs_cpu" > "$here/cmp.log" 2>&1
rc=$?
case $rc in
    0) echo "gpu_vs_cpu: $(tail -1 "$here/cmp.log")" ;;
    77) skip=$((skip + 1)) ;;
    *) fail=$((fail + 1)); grep -B1 -A3 -i "mismatch\|error\|fail" "$here/cmp.log" | head -60 ;;
esac
# The optimizer and soft cross-entropy ops against the CPU, the optimizer against PyTorch.
for t in "gpu_optim_vs_cpu" "gpu_xent_soft_vs_cpu" "test_optim --device cuda $here/optim.bin" \
         "test_ema cuda" "test_net_channels_last cuda"; do
    set -- $t
    [ -x "$here/bin/$1" ] || continue
    "$here/bin/$@" > "$here/last.log" 2>&1
    case $? in
        0) pass=$((pass + 1)); echo "$1: ok" ;;
        77) skip=$((skip + 1)) ;;
        *) fail=$((fail + 1)); echo "FAILED: $t"; tail -20 "$here/last.log" ;;
    esac
done
[ $fail -eq 0 ] && [ $pass -gt 0 ] && exit 0
[ $fail -eq 0 ] && exit 77
exit 1
RUN
chmod +x "$out/run-gpu-tests.sh"
if [ -x "$out/bin/gpu-bench" ]; then
    cat > "$out/run-gpu-bench.sh" <<'RUN'
#!/bin/sh
# Times our conv2d (CUDA backend) against PyTorch's on this GPU (VGG-16 / ResNet-50 shapes,
# batch 64, fp32) and writes gpu-bench.json here; options go to gpu-bench (--help).
# The peer runs in the python3 on PATH (or --python PATH): it needs a CUDA build of torch.
# exit 77 = no GPU.
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${CNN_CUDA_LIBS:-}" ]; then
    CNN_CUDA_LIBS=$(python3 -c 'import glob, os, nvidia; print(":".join(sorted(glob.glob(os.path.join(os.path.dirname(nvidia.__path__[0] + "/x"), "*", "lib")))))' 2>/dev/null || true)
fi
export LD_LIBRARY_PATH="$here/lib:${CNN_CUDA_LIBS}:${LD_LIBRARY_PATH:-}"
exec "$here/bin/gpu-bench" --torch-script "$here/torch_gpu_conv.py" --json "$here/gpu-bench.json" "$@"
RUN
    chmod +x "$out/run-gpu-bench.sh"
fi
if [ -x "$out/bin/cnn-dist" ]; then
    # Open MPI relocated under ompi/ (OPAL_PREFIX): its components and their libraries.
    ompi=/usr/lib/x86_64-linux-gnu/openmpi
    mkdir -p "$out/ompi/lib/x86_64-linux-gnu" "$out/ompi/bin" "$out/ompi/share"
    cp -a "$ompi" "$out/ompi/lib/x86_64-linux-gnu/"
    rm -rf "$out/ompi/lib/x86_64-linux-gnu/openmpi/include"
    cp -L /usr/bin/orted /usr/bin/orterun "$out/ompi/bin/"
    cp -a /usr/share/openmpi "$out/ompi/share/"
    for so in "$ompi"/lib/openmpi3/*.so /usr/bin/orted; do
        ldd "$so" | awk '$3 ~ /^\// {print $1, $3}'
    done | sort -u | while read -r name path; do
        echo "$name" | grep -Eq "$skip" || [ -e "$out/lib/$name" ] || cp -L "$path" "$out/lib/$name"
    done
    cp -r "$here/configs" "$out/"
    cat > "$out/run-gpu-train.sh" <<'RUN'
#!/bin/sh
# Trains on this GPU node with the bundled Open MPI: run-gpu-train.sh NP CONFIG [cnn-dist args]
# (cnn-pack is in bin/; data paths as the config or --set data.train=... say).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${CNN_CUDA_LIBS:-}" ]; then
    CNN_CUDA_LIBS=$(python3 -c 'import glob, os, nvidia; print(":".join(sorted(glob.glob(os.path.join(os.path.dirname(nvidia.__path__[0] + "/x"), "*", "lib")))))' 2>/dev/null || true)
fi
export LD_LIBRARY_PATH="$here/lib:${CNN_CUDA_LIBS}:${LD_LIBRARY_PATH:-}"
export OPAL_PREFIX="$here/ompi" PATH="$here/ompi/bin:$here/bin:$PATH"
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_osc=sm,pt2pt
np=$1
shift
exec "$here/ompi/bin/orterun" --allow-run-as-root --oversubscribe -np "$np" "$here/bin/cnn-dist" "$@"
RUN
    chmod +x "$out/run-gpu-train.sh"
fi
cat > "$out/run-gpu-all.sh" <<'RUN'
#!/bin/sh
# What a short GPU lease should check, each part under its own time limit, logs in LOG_DIR:
#   tests  (240 s) every layer fixture in 3 precisions x 2 layouts, CPU-vs-GPU comparisons,
#          channels-last nets, optimizer ops
#   bench  (120 s) the conv benchmark with the bf16 channels-last column
#   train  (4 x 75 s) resnet50 at batch 64 on synthetic data, ours and PyTorch's, in fp32
#          and in bf16 channels-last
#   repeat (2 x 60 s) resnet18_cifar twice with cuda.deterministic (bf16 channels-last):
#          the same weights (hash) both times
# usage: run-gpu-all.sh LOG_DIR [PART ...]   (default: all four; a device call is limited
# to 10 minutes, so a lease may run "tests bench" and "train repeat" as two calls)
here=$(cd "$(dirname "$0")" && pwd)
logs=${1:?usage: run-gpu-all.sh LOG_DIR [tests|bench|train|repeat ...]}
shift
parts=${*:-tests bench train repeat}
mkdir -p "$logs"
runs=$(mktemp -d) # each run its own run.dir: a used one (checkpoints) is refused
failed=0
part() { # part SECONDS NAME COMMAND...: runs it, keeps its output, says how it ended
    limit=$1 name=$2
    shift 2
    start=$(date +%s)
    timeout "$limit" "$@" > "$logs/$name.log" 2>&1
    rc=$?
    echo "== $name: exit $rc after $(($(date +%s) - start)) s"
    [ $rc -eq 0 ] || failed=$((failed + 1))
    tail -25 "$logs/$name.log"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
for p in $parts; do
    case $p in
    tests) part 240 tests "$here/run-gpu-tests.sh" ;;
    bench) [ -x "$here/run-gpu-bench.sh" ] &&
               part 120 bench "$here/run-gpu-bench.sh" --bf16 --rounds 2 --iters 5 ;;
    train)
        [ -x "$here/run-gpu-train.sh" ] || continue
        syn="--set device=cuda --set data.synthetic=6400 --set data.batch_size=64"
        syn="$syn --set train.max_steps=60 --set data.workers=8 --set log.every=20"
        syn="$syn --set ckpt.every=0"
        r50="$here/configs/resnet50.yaml"
        part 75 train_fp32 "$here/run-gpu-train.sh" 1 "$r50" $syn --set run.dir="$runs/fp32"
        part 75 train_bf16_cl "$here/run-gpu-train.sh" 1 "$r50" $syn --set precision=bf16 \
            --set channels_last=true --set run.dir="$runs/bf16_cl"
        part 75 torch_fp32 python3 "$here/torch_gpu_train.py" resnet50 64
        part 75 torch_bf16_cl python3 "$here/torch_gpu_train.py" resnet50 64 --amp bf16 \
            --channels-last ;;
    repeat)
        [ -x "$here/run-gpu-train.sh" ] || continue
        det="--set device=cuda --set data.synthetic=2048 --set data.batch_size=128"
        det="$det --set train.max_steps=30 --set cuda.deterministic=true --set precision=bf16"
        det="$det --set channels_last=true --set ckpt.every=0 --hash-weights"
        for k in 1 2; do
            part 60 repeat_$k "$here/run-gpu-train.sh" 1 "$here/configs/resnet18_cifar.yaml" \
                $det --set run.dir="$runs/repeat_$k"
        done
        a=$(grep fnv1a64 "$logs/repeat_1.log") b=$(grep fnv1a64 "$logs/repeat_2.log")
        if [ -z "$a" ] || [ -z "$b" ]; then
            verdict="no weight hash (a run failed)"
        elif [ "$a" = "$b" ]; then verdict=same
        else verdict=DIFFER; fi
        [ "$verdict" = same ] || failed=$((failed + 1))
        echo "== repeat: [$a] [$b]: $verdict" ;;
    *) echo "run-gpu-all.sh: unknown part '$p' (tests, bench, train, repeat)"; exit 2 ;;
    esac
done
rm -rf "$runs"
echo "== run-gpu-all.sh: $failed part(s) failed"
[ $failed -eq 0 ]
RUN
chmod +x "$out/run-gpu-all.sh"
echo "gpu-bundle: $out ($(du -sh "$out" | cut -f1)); run $out/run-gpu-tests.sh (and" \
     "$out/run-gpu-bench.sh, $out/run-gpu-all.sh when present) on the GPU node"
