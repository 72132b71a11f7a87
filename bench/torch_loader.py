"""PyTorch peer of bench/data_bench.c: makes the benchmark's JPEGs and times torchvision's
ImageNet training pipeline on them, so data-bench can compare its loader on the same files.

--make-images DIR --count N writes N deterministic, natural-looking JPEGs (about 500x375:
smooth colour gradients, shapes, blur and sensor-like noise, so that they compress like
photographs rather than like flat test patterns) into DIR/class_K/, then prints one JSON line.
--serve answers one JSON request per line as bench/torch_models.py does
({"dir": DIR, "workers": T, "batch": 32, "epochs": E}): one untimed epoch, then E timed
epochs of ImageFolder + RandomResizedCrop(224) + RandomHorizontalFlip + ColorJitter(0.4,
0.4, 0.4) + ToTensor + Normalize through a DataLoader with T worker processes (the main
process alone when T = 1), each process with torch.set_num_threads(1).
"""
import argparse
import json
import os
import sys
import time

SIZES = ((500, 375), (375, 500), (500, 333), (500, 400), (480, 360))
CLASSES = 4


def make_images(out, count, seed):
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter
    rs = np.random.RandomState(seed)
    for k in range(CLASSES):
        os.makedirs(os.path.join(out, f"class_{k}"), exist_ok=True)
    for i in range(count):
        w, h = SIZES[i % len(SIZES)]
        corners = rs.uniform(0, 255, (2, 2, 3))
        ys = np.linspace(0, 1, h)[:, None, None]
        xs = np.linspace(0, 1, w)[None, :, None]
        top = corners[0, 0] * (1 - xs) + corners[0, 1] * xs
        bottom = corners[1, 0] * (1 - xs) + corners[1, 1] * xs
        img = Image.fromarray((top * (1 - ys) + bottom * ys).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(img)
        for _ in range(rs.randint(3, 9)):
            x0, y0 = rs.randint(0, w - 20), rs.randint(0, h - 20)
            box = [x0, y0, x0 + rs.randint(20, w // 2), y0 + rs.randint(20, h // 2)]
            fill = tuple(int(v) for v in rs.randint(0, 256, 3))
            (draw.ellipse if rs.rand() < 0.5 else draw.rectangle)(box, fill=fill)
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rs.uniform(0.5, 2.5))))
        px = np.asarray(img, dtype=np.float32) + rs.normal(0, 6, (h, w, 3))
        img = Image.fromarray(np.clip(px, 0, 255).astype(np.uint8), "RGB")
        img.save(os.path.join(out, f"class_{i % CLASSES}", f"img_{i:05d}.jpg"), quality=90)
    print(json.dumps({"images": count, "dir": out}), flush=True)


def time_loader(torch, req):
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms as T
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(),
                    T.ColorJitter(0.4, 0.4, 0.4), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = datasets.ImageFolder(req["dir"], transform=tf)  # PIL open + convert("RGB")
    workers = int(req.get("workers", 1))
    workers = 0 if workers <= 1 else workers
    dl = DataLoader(ds, batch_size=int(req.get("batch", 32)), shuffle=True,
                    num_workers=workers, persistent_workers=workers > 0,
                    worker_init_fn=lambda _: torch.set_num_threads(1))
    finite, images, times = True, 0, []
    for epoch in range(int(req.get("epochs", 3)) + 1):
        t0 = time.perf_counter()
        seen = 0
        for x, _ in dl:
            seen += x.shape[0]
            if not epoch:  # checked untimed, as data-bench does
                finite = finite and bool(torch.isfinite(x).all())
        if epoch:  # the first epoch starts the workers and warms the caches: untimed
            times.append((time.perf_counter() - t0) * 1e3)
        images = seen
    return {"times_ms": times, "finite": finite, "images": images}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--make-images", metavar="DIR")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="ignored: always 1 per process")
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    if a.make_images:
        make_images(a.make_images, a.count, a.seed)
        return
    try:
        import torch
        import torchvision
    except ImportError as exc:
        print(json.dumps({"error": f"cannot import torch/torchvision ({exc})",
                          "hint": "install them with: apt-get install python3-torch "
                                  "python3-torchvision (Debian; run with /usr/bin/python3)"}),
              flush=True)
        sys.exit(3)
    torch.set_num_threads(1)
    # bench.h's peer_info has no torchvision field: its onednn slot carries the version.
    print(json.dumps({"torch": torch.__version__, "onednn": torchvision.__version__,
                      "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = time_loader(torch, json.loads(line))
        except Exception as exc:  # one bad request must not end the serving loop
            out = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
