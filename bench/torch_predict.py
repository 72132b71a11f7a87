#!/usr/bin/python3
"""PyTorch peer of bench/predict_bench.sh: what `cnn-dist predict` does, in torchvision.

    /usr/bin/python3 bench/torch_predict.py resnet18 DIR --batch 16 --threads 2 [--rounds 5]
        [--weights W.h5] [--json OUT]
    ... --serve    # predict_bench.sh: one timed round per line read on stdin

For every image file in DIR (sorted names; .jpg/.jpeg/.png/.bmp/.webp in any case): PIL open,
convert("RGB"), the eval transform (Resize(256), CenterCrop(224), ToTensor, Normalize with
ImageNet mean/std), batches of N, forward in eval() under inference_mode, softmax, top 5.
A round is timed end to end (decode + transform + forward + top 5) after one untimed
warm-up round that pays for first-touch allocations and oneDNN's kernel selection. Decoding
runs in this thread, as in a plain predict script; torch.set_num_threads(T) and the caller's
OMP_NUM_THREADS govern the forward. Random init unless --weights (a file in
tools/torch_export.py's layout, loaded strictly) makes the answers comparable with ours.
--serve prints a hello line (versions, threads, images, file names) after the warm-up, then
answers each stdin line with one round's JSON ({"seconds", "img_per_s", "top1"}), so that
the caller can alternate rounds with another program without paying for import and warm-up
again.
"""
import argparse
import json
import os
import statistics
import sys
import time

try:
    import torch
    import torchvision
    import torchvision.transforms as T
    from PIL import Image
except ImportError as exc:
    print(json.dumps({"error": f"cannot import torch/torchvision/PIL ({exc})",
                      "hint": "install them with tools/install-deps.sh --peer (Debian's "
                              "python3-torch, python3-torchvision, python3-pil) and run with "
                              "/usr/bin/python3"}), flush=True)
    sys.exit(3)

EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def load_weights(model, path):
    import h5py
    with h5py.File(path, "r") as f:
        sd = {k: torch.as_tensor(f[k][()]) for k in f if isinstance(f[k], h5py.Dataset)}
    model.load_state_dict(sd, strict=True)


def one_round(model, files, batch, transform, top):
    """Seconds for the whole pass, and the top-1 index of every file."""
    top1 = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(files), batch):
            xs = []
            for path in files[i:i + batch]:
                with Image.open(path) as im:
                    xs.append(transform(im.convert("RGB")))
            p = torch.softmax(model(torch.stack(xs)), 1)
            prob, idx = torch.topk(p, top, 1)
            top1 += idx[:, 0].tolist()
    return time.perf_counter() - t0, top1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="torchvision architecture (resnet18, ...)")
    ap.add_argument("dir", help="folder of images")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: keep)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (not with --serve)")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--resize", type=int, default=256)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--weights", help="HDF5 state_dict (tools/torch_export.py layout)")
    ap.add_argument("--json", metavar="OUT", help="write every round and the median here")
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    if a.batch < 1 or a.rounds < 1:
        ap.error("--batch and --rounds must be >= 1")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    files = sorted(os.path.join(a.dir, f) for f in os.listdir(a.dir)
                   if f.lower().endswith(EXTS))
    if not files:
        sys.exit(f"torch_predict: no image files ({', '.join(EXTS)}) in {a.dir}")
    model = getattr(torchvision.models, a.model)().eval()
    if a.weights:
        load_weights(model, a.weights)
    transform = T.Compose([T.Resize(a.resize), T.CenterCrop(a.crop), T.ToTensor(),
                           T.Normalize(MEAN, STD)])
    one_round(model, files, a.batch, transform, a.top)  # warm-up
    info = {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "threads": torch.get_num_threads(), "model": a.model, "images": len(files),
            "batch": a.batch}
    if a.serve:
        print(json.dumps(dict(info, files=[os.path.basename(f) for f in files])), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            s, top1 = one_round(model, files, a.batch, transform, a.top)
            print(json.dumps({"seconds": s, "img_per_s": len(files) / s, "top1": top1}),
                  flush=True)
        return
    rates = []
    for r in range(a.rounds):
        s, _ = one_round(model, files, a.batch, transform, a.top)
        rates.append(len(files) / s)
        print(f"round {r}: {len(files)} images in {s:.3f} s, {rates[-1]:.2f} img/s", flush=True)
    med = statistics.median(rates)
    print(f"{a.model}: median {med:.2f} img/s [{min(rates):.2f}-{max(rates):.2f}], "
          f"{len(files)} images, batch {a.batch}, {info['threads']} threads")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(info, img_per_s=rates, median_img_per_s=med), f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
