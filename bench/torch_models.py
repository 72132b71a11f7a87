"""PyTorch peer of bench/model_bench.c: times a whole-model training step (forward, loss,
backward to every parameter) on the CPU for the models model-bench compares, one request at
a time, and prints JSON.

The models are written here in PyTorch to match configs/<name>.yaml layer for layer; every
reply carries the parameter count so model-bench can refuse a peer that drifted from the
config. Protocol as bench/torch_layers.py: --serve reads one JSON request per line
({"model": "lenet5", "batch": 64, "warmup": 3, "iters": 10}) and answers one JSON line;
the first line out is a hello (versions, threads) or an error when torch is missing.
Gradients come from torch.autograd.grad, so nothing accumulates between iterations (ours
overwrites too); batch norm runs in training mode on both sides.
"""
import argparse
import json
import re
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as exc:
    print(json.dumps({"error": f"cannot import torch ({exc})",
                      "hint": "install it with: apt-get install python3-torch "
                              "(Debian; run with /usr/bin/python3)"}), flush=True)
    sys.exit(3)


def lenet5():
    """configs/lenet5.yaml: LeNet-5 with tanh and average pooling on 1x28x28."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))


class Basic(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = None
        if stride != 1 or cin != width:
            self.downsample = nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False),
                                            nn.BatchNorm2d(width))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


def resnet18_cifar(num_classes=10):
    """configs/resnet18_cifar.yaml: ResNet-18 with a 3x3 stride-1 stem, no max pooling."""
    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Basic(cin, width, stride), Basic(width, width, 1)]
        cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


MODELS = {"lenet5": (lenet5, (1, 28, 28)), "resnet18_cifar": (resnet18_cifar, (3, 32, 32))}


def time_model(req, warmup, iters):
    build, chw = MODELS[req["model"]]
    torch.manual_seed(1)
    model = build().train()
    params = [p for p in model.parameters()]
    n = int(req["batch"])
    x = torch.rand((n,) + chw) * 2 - 1
    y = torch.randint(0, 10, (n,))

    def step():
        loss = F.cross_entropy(model(x), y)
        return loss, torch.autograd.grad(loss, params)

    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        loss, grads = step()
        times.append((time.perf_counter() - t0) * 1e3)
    finite = bool(torch.isfinite(loss)) and all(bool(torch.isfinite(g).all()) for g in grads)
    return {"times_ms": times, "finite": finite,
            "params": sum(p.numel() for p in params)}


def onednn_version():
    m = re.search(r"(?:MKL-DNN|oneDNN)\s+v?([0-9][0-9.]*)", torch.__config__.show())
    return m.group(1) if m else "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: keep)")
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("requests", nargs="*", help="JSON requests (without --serve)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    print(json.dumps({"torch": torch.__version__, "onednn": onednn_version(),
                      "threads": torch.get_num_threads()}), flush=True)
    lines = sys.stdin if a.serve else a.requests
    for line in lines:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            out = time_model(req, int(req.get("warmup", 3)), int(req.get("iters", 10)))
        except Exception as exc:  # one bad request must not end the serving loop
            out = {"error": f"{type(exc).__name__}: {exc}"}
        out["model"] = req.get("model", "")
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
