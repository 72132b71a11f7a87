#!/usr/bin/env bash
# predict-bench: `cnn-dist predict` against its PyTorch peer (bench/torch_predict.py) on the
# same JPEGs, batch and threads, in alternating rounds; prints img/s per side and the ratio
# ours/PyTorch (target >= 1.0), writes JSON.
#
#   bench/predict_bench.sh [--images N] [--batch B] [--threads T] [--rounds R] [--build DIR]
#                          [--json OUT] [--check] [--python PATH]
#
# Ours is timed on the wall clock per process (start, loading the weights, decode, forward,
# output); the peer runs once in --serve mode and times each round inside the process after
# its import and warm-up, so the comparison leans against us by our start-up time. Both load
# the same random-init weights (tools/torch_export.py), so the top-1 answers are compared too
# (informational: a random model's answers hinge on tiny logit gaps). Needs Debian's
# /usr/bin/python3 (or --python PATH) with torch/torchvision (tools/install-deps.sh --peer).
# --check: exit status 1 when the ratio misses the target.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
IMAGES=64 BATCH=16 THREADS=$(nproc) ROUNDS=5 BUILD=$ROOT/build JSON=predict-bench.json
CHECK=0

header() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
usage() { # exit status 2 after a usage error, with the synopsis on stderr
    if ((${1:-0})); then header >&2; else header; fi
    exit "${1:-0}"
}
die() { echo "predict-bench: $*" >&2; exit 1; }
posint() {
    [[ $2 =~ ^[1-9][0-9]*$ ]] && return
    echo "predict-bench: $1 needs a positive integer, got '$2'" >&2
    exit 2
}

while (($#)); do
    case $1 in
    --images) posint "$1" "${2-}"; IMAGES=$2; shift 2 ;;
    --batch) posint "$1" "${2-}"; BATCH=$2; shift 2 ;;
    --threads) posint "$1" "${2-}"; THREADS=$2; shift 2 ;;
    --rounds) posint "$1" "${2-}"; ROUNDS=$2; shift 2 ;;
    --build) [[ -n ${2-} ]] || usage 2; BUILD=$2; shift 2 ;;
    --json) [[ -n ${2-} ]] || usage 2; JSON=$2; shift 2 ;;
    --check) CHECK=1; shift ;;
    --python) [[ -n ${2-} ]] || usage 2; PY=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "predict-bench: unknown argument '$1'" >&2; usage 2 ;;
    esac
done

# Both prerequisites are checked before any work, each with what to do about it.
CNN=$BUILD/cnn-dist
[[ -x $CNN ]] || die "no executable $CNN; build it first (cmake -S . -B build" \
    "-DCNN_CUDA=OFF && cmake --build build -j) or pass --build DIR"
if ! err=$("$PY" -c 'import torch, torchvision, PIL, h5py, numpy' 2>&1); then
    die "the PyTorch peer needs $PY with torch, torchvision, PIL, h5py and numpy" \
        "(${err##*$'\n'}); install them with tools/install-deps.sh --peer (Debian:" \
        "apt-get install python3-torch python3-torchvision python3-pil python3-h5py)," \
        "or pass --python PATH"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/predict-bench.XXXXXX")
PEER_JOB=
cleanup() {
    if [[ -n $PEER_JOB ]]; then kill "$PEER_JOB" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
mkdir "$TMP/images"

# Photo-like 500x375 JPEGs (the generator of the predict fixture, one seed per image).
"$PY" - "$ROOT/tools/fixtures" "$TMP/images" "$IMAGES" <<'EOF'
import sys
import numpy as np
from PIL import Image
sys.path.insert(0, sys.argv[1])
from predict_torchvision import photo
for i in range(int(sys.argv[3])):
    Image.fromarray(photo(np.random.default_rng(1000 + i)), "RGB").save(
        f"{sys.argv[2]}/img{i:05d}.jpg", quality=90, subsampling="4:2:0")
EOF
W=$TMP/resnet18.h5
"$PY" "$ROOT/tools/torch_export.py" resnet18 "$W" >/dev/null
CLASSES=$TMP/classes.txt
for ((i = 0; i < 1000; i++)); do echo "class_$i"; done >"$CLASSES"

export OMP_NUM_THREADS=$THREADS
# The peer keeps freed memory as layer-bench's does (bench/README.md): without it glibc
# returns multi-MB activations to the kernel and page-faults them back on every batch.
# Values set by the caller win. configs/resnet18.yaml has neither data.eval_resize (default 0:
# resize straight to 224) nor data.mean/std (default: the training set's), so ours gets
# torchvision's eval transform through --set, as the peer applies it.
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_-16777216}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_-1073741824}
OURS=("$CNN" predict "$W" --config "$ROOT/configs/resnet18.yaml"
    --set data.eval_resize=256 --set 'data.mean=[0.485,0.456,0.406]'
    --set 'data.std=[0.229,0.224,0.225]' --classes "$CLASSES" --batch "$BATCH"
    --threads "$THREADS" "$TMP/images")

ours_round() { # seconds of one run; its output is kept for the line count and top-1
    local t0=$EPOCHREALTIME
    if ! env -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_ "${OURS[@]}" \
        >"$TMP/ours.jsonl" 2>"$TMP/ours.err"; then
        echo "predict-bench: our side failed: ${OURS[*]}" >&2
        tail -n 5 "$TMP/ours.err" >&2
        [[ -z ${1:-} ]] || echo "predict-bench: $1" >&2
        exit 1
    fi
    local t1=$EPOCHREALTIME n
    n=$(grep -c '"file"' "$TMP/ours.jsonl" || true)
    if ((n != IMAGES)); then
        head -n 3 "$TMP/ours.jsonl" >&2
        die "our side printed $n results (lines with \"file\") for $IMAGES images"
    fi
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }'
}

coproc PEER { exec "$PY" "$ROOT/bench/torch_predict.py" resnet18 "$TMP/images" --serve \
    --batch "$BATCH" --threads "$THREADS" --weights "$W" 2>"$TMP/peer.err"; }
PEER_JOB=$PEER_PID PEER_IN=${PEER[1]}
peer_line() {
    local line
    if ! read -r -u "${PEER[0]}" line; then
        cat "$TMP/peer.err" >&2
        die "the PyTorch peer exited early"
    fi
    [[ $line != *'"error"'* ]] || die "PyTorch peer: $line"
    printf '%s' "$line"
}
peer_round() { echo go >&"${PEER[1]}"; peer_line >"$TMP/peer.last"; }

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
echo "predict-bench: resnet18, $IMAGES images 500x375, batch $BATCH, threads $THREADS," \
    "$ROUNDS rounds (load $LOAD0)"
HELLO=$(peer_line) # the peer's warm-up is done when its hello arrives
# Ours' warm-up run fills the page cache with the binary, the weights and the images.
ours_round "(does $CNN have the predict command?)" >/dev/null
OURS_S=() PEER_S=()
for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2 == 0)); then # the side that goes first alternates, so load drifts hit both
        OURS_S+=("$(ours_round)"); peer_round
    else
        peer_round; OURS_S+=("$(ours_round)")
    fi
    PEER_S+=("$(sed -n 's/.*"seconds": \([-+.0-9eE]*\).*/\1/p' "$TMP/peer.last")")
    printf '  round %d: ours %.3f s, PyTorch %.3f s\n' "$r" "${OURS_S[-1]}" "${PEER_S[-1]}"
done
exec {PEER_IN}>&- # EOF ends the peer's loop
wait "$PEER_JOB" 2>/dev/null || true
PEER_JOB=
LOAD1=$(cut -d' ' -f1 /proc/loadavg)

"$PY" - "$JSON" "$IMAGES" "$BATCH" "$THREADS" "$LOAD0" "$LOAD1" "$HELLO" "$TMP/ours.jsonl" \
    "$TMP/peer.last" "$CHECK" "${OURS_S[*]}" "${PEER_S[*]}" <<'EOF'
import json, os, statistics, sys
out, n, batch, threads, load0, load1, hello, ours_out, peer_last, check = sys.argv[1:11]
n = int(n)
ours = [n / float(s) for s in sys.argv[11].split()]
peer = [n / float(s) for s in sys.argv[12].split()]
om, pm = statistics.median(ours), statistics.median(peer)
ratio, ratio_best = om / pm, max(ours) / max(peer)
our_top1 = {}  # by base name: ours may print the path as given or the file's name
for line in open(ours_out):
    if line.strip():
        r = json.loads(line)
        our_top1[os.path.basename(r.get("file", ""))] = (r.get("top") or [{}])[0].get("index")
peer_top1 = zip(json.loads(hello)["files"], json.load(open(peer_last))["top1"])
agree = sum(our_top1.get(f) == i for f, i in peer_top1)
ok = ratio >= 1.0
print(f"{'side':<9} {'img/s median':>12}  [min-max]")
print(f"{'ours':<9} {om:>12.2f}  [{min(ours):.2f}-{max(ours):.2f}]")
print(f"{'PyTorch':<9} {pm:>12.2f}  [{min(peer):.2f}-{max(peer):.2f}]")
print(f"ratio ours/PyTorch {ratio:.3f} (best rounds {ratio_best:.3f}), target >= 1.0: "
      f"{'met' if ok else 'MISSED'}; top-1 agreement {agree}/{n}; load {load0} -> {load1}")
res = {"bench": "predict-bench", "model": "resnet18", "images": n, "image_size": [500, 375],
       "batch": int(batch), "threads": int(threads),
       "peer": {k: v for k, v in json.loads(hello).items() if k != "files"},
       "ours_img_per_s": ours, "torch_img_per_s": peer, "ours_median": om,
       "torch_median": pm, "ratio": ratio, "ratio_best": ratio_best, "target": 1.0,
       "met": ok, "top1_agreement": agree, "load": [float(load0), float(load1)]}
with open(out, "w") as f:
    json.dump(res, f, indent=1)
    f.write("\n")
print(f"wrote {out}")
sys.exit(1 if check == "1" and not ok else 0)
EOF
