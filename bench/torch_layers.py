"""PyTorch peer of bench/layer_bench.c: times forward+backward (training mode) of conv2d,
batch norm, max pooling and relu on the CPU, one case at a time, and prints JSON.

layer-bench starts this script with --serve and sends one JSON case per line on stdin; each
reply is one JSON line on stdout. The first line out is a hello (versions, threads) or an
error when torch cannot be imported. Run alone, it times the cases given as arguments:

    /usr/bin/python3 bench/torch_layers.py --threads 2 \\
        '{"op": "conv2d", "n": 8, "c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3,
          "stride": 1, "pad": 1, "bias": true}'

The ops are the functional forms our layers mirror: F.conv2d with gradients for input,
weight (and bias), F.batch_norm in training mode with weight/bias gradients and running
statistics, F.max_pool2d and F.relu with the input gradient. Gradients come from
torch.autograd.grad, so nothing accumulates between iterations (our side overwrites too).
"""
import argparse
import json
import re
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as exc:  # reported to layer-bench, which then runs our side alone
    print(json.dumps({"error": f"cannot import torch ({exc})",
                      "hint": "install it with: apt-get install python3-torch "
                              "(Debian; run with /usr/bin/python3)"}), flush=True)
    sys.exit(3)


def onednn_version():
    m = re.search(r"(?:MKL-DNN|oneDNN)\s+v?([0-9][0-9.]*)", torch.__config__.show())
    return m.group(1) if m else "unknown"


def make_case(spec):
    """Returns (run, tensors): run() does one forward+backward; tensors keep it alive."""
    g = torch.Generator().manual_seed(int(spec.get("seed", 1)))
    n, c, h, w = (int(spec[k]) for k in ("n", "c", "h", "w"))
    x = (torch.rand((n, c, h, w), generator=g) * 2 - 1).requires_grad_()
    op = spec["op"]
    if op == "conv2d":
        k, r, s = int(spec["k"]), int(spec["r"]), int(spec["s"])
        bound = 1.0 / (c * r * s) ** 0.5
        wt = ((torch.rand((k, c, r, s), generator=g) * 2 - 1) * bound).requires_grad_()
        b = None
        if spec.get("bias"):
            b = ((torch.rand(k, generator=g) * 2 - 1) * bound).requires_grad_()
        stride, pad = int(spec["stride"]), int(spec["pad"])
        leaves = [x, wt] + ([b] if b is not None else [])

        def fwd():
            return F.conv2d(x, wt, b, stride=stride, padding=pad)
    elif op == "batch_norm2d":
        wt = torch.ones(c, requires_grad=True)
        b = torch.zeros(c, requires_grad=True)
        rm, rv = torch.zeros(c), torch.ones(c)
        leaves = [x, wt, b]

        def fwd():
            return F.batch_norm(x, rm, rv, wt, b, training=True, momentum=0.1, eps=1e-5)
    elif op == "max_pool2d":
        r, stride, pad = int(spec["r"]), int(spec["stride"]), int(spec["pad"])
        leaves = [x]

        def fwd():
            return F.max_pool2d(x, r, stride=stride, padding=pad)
    elif op == "relu":
        leaves = [x]

        def fwd():
            return F.relu(x)
    else:
        raise ValueError(f"unknown op '{op}'")
    with torch.no_grad():
        dy = torch.rand(fwd().shape, generator=g) * 2 - 1

    def run():
        y = fwd()
        return torch.autograd.grad(y, leaves, dy)

    return run, (x, leaves, dy)


def time_case(spec, warmup, iters):
    run, keep = make_case(spec)
    for _ in range(warmup):
        run()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        grads = run()
        times.append((time.perf_counter() - t0) * 1e3)
    finite = all(bool(torch.isfinite(gr).all()) for gr in grads)
    del keep
    return {"times_ms": times, "finite": finite}


def hello(threads):
    return {"torch": torch.__version__, "onednn": onednn_version(),
            "threads": torch.get_num_threads(), "threads_asked": threads,
            "mkldnn_enabled": bool(torch.backends.mkldnn.is_available()
                                   and torch._C._get_mkldnn_enabled())}


def reply(spec, default_warmup, default_iters):
    try:
        out = time_case(spec, int(spec.get("warmup", default_warmup)),
                        int(spec.get("iters", default_iters)))
    except Exception as exc:  # one bad case must not end the serving loop
        out = {"error": f"{type(exc).__name__}: {exc}"}
    out["id"] = spec.get("id", "")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: keep)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--serve", action="store_true",
                    help="read one JSON case per line on stdin, answer one JSON line each")
    ap.add_argument("cases", nargs="*", help="JSON case objects (without --serve)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.set_grad_enabled(True)
    print(json.dumps(hello(a.threads)), flush=True)
    if a.serve:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(reply(json.loads(line), a.warmup, a.iters)), flush=True)
        return
    for text in a.cases:
        print(json.dumps(reply(json.loads(text), a.warmup, a.iters)), flush=True)


if __name__ == "__main__":
    main()
