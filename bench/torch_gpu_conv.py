"""PyTorch peer of bench/gpu_bench.c: times F.conv2d forward+backward on the GPU (cuDNN),
one case at a time, and prints JSON.

gpu-bench starts this script with --serve and sends one JSON case per line on stdin (the
same case lines as layer-bench's peer, bench/torch_layers.py); each reply is one JSON line
on stdout. The first line out is a hello (versions, GPU) or an error when torch cannot be
imported or sees no GPU. Run alone, it times the cases given as arguments:

    python3 bench/torch_gpu_conv.py \\
        '{"op": "conv2d", "n": 64, "c": 64, "h": 224, "w": 224, "k": 64, "r": 3, "s": 3,
          "stride": 1, "pad": 1, "bias": true}'

Settings: torch.backends.cudnn.benchmark = True (cuDNN measures its algorithms once per
shape, during the warm-up iterations) and TF32 off for convolutions and matmuls, so fp32 is
IEEE fp32 as in our backend (CUDNN_FMA_MATH). Each iteration is timed on the wall clock
between two torch.cuda.synchronize() calls, as gpu-bench times its own side. Gradients of
input, weight (and bias) come from torch.autograd.grad, so nothing accumulates between
iterations. An optional "part" times one op alone (gpu-bench --breakdown): "fwd" (convolution
without bias), "bias_add", "bwd_data", "bwd_filter" (aten.convolution_backward with one output)
or "bias_grad" (dy summed over N, H, W), each what autograd runs for that piece. An optional
"dtype": "bf16" runs the case in bfloat16 with channels-last tensors: x and the weight in
torch.channels_last (the weight is then stored KRSC), so the output and dy are channels-last
too; gpu-bench --bf16 asks for it and runs its own side channels-last (NHWC, KRSC) as well.

The last case's tensors are kept while the next request has the same id (gpu-bench's rounds
alternate the two sides on one case); a new id frees them and empties PyTorch's cache, so
the two processes sharing the GPU never hold more than one case each.
"""
import argparse
import json
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as exc:  # reported to gpu-bench, which then runs our side alone
    print(json.dumps({"error": f"cannot import torch ({exc})",
                      "hint": "install a CUDA build of PyTorch (pip install torch) in the "
                              "python3 on PATH, or pass --python PATH"}), flush=True)
    sys.exit(3)

HINT_NO_GPU = ("this PyTorch sees no GPU (torch.cuda.is_available() is False): a CPU-only "
               "build, or CUDA_VISIBLE_DEVICES hides the device")


def make_case(spec):
    """Returns {part: run}: "all" is one forward+backward; each run returns its outputs."""
    if spec["op"] != "conv2d":
        raise ValueError(f"unsupported op '{spec['op']}' (this peer times conv2d only)")
    dev = torch.device("cuda")
    g = torch.Generator(device=dev)
    g.manual_seed(int(spec.get("seed", 1)))
    n, c, h, w = (int(spec[k]) for k in ("n", "c", "h", "w"))
    k, r, s = int(spec["k"]), int(spec["r"]), int(spec["s"])
    stride, pad = int(spec["stride"]), int(spec["pad"])
    dt = {"f32": torch.float32, "bf16": torch.bfloat16}[spec.get("dtype", "f32")]
    fmt = torch.channels_last if dt == torch.bfloat16 else torch.contiguous_format

    def uniform(shape, scale=1.0):
        t = (torch.rand(shape, generator=g, device=dev) * 2 - 1) * scale
        if len(shape) == 4:
            t = t.contiguous(memory_format=fmt)
        return t.to(dt).requires_grad_()

    bound = 1.0 / (c * r * s) ** 0.5
    x = uniform((n, c, h, w))
    wt = uniform((k, c, r, s), bound)
    b = uniform((k,), bound) if spec.get("bias") else None
    leaves = [x, wt] + ([b] if b is not None else [])

    def fwd():
        return F.conv2d(x, wt, b, stride=stride, padding=pad)

    with torch.no_grad():
        dy = fwd().detach()
        dy.copy_(torch.rand(dy.shape, generator=g, device=dev) * 2 - 1)

    def run():
        return torch.autograd.grad(fwd(), leaves, dy)

    def bwd(mask):
        def go():
            with torch.no_grad():
                out = torch.ops.aten.convolution_backward(
                    dy, x, wt, None, [stride, stride], [pad, pad], [1, 1], False, [0, 0], 1,
                    mask)
            return [t for t in out if t is not None]
        return go

    with torch.no_grad():
        y = fwd().detach()
        bias = b.detach() if b is not None else torch.zeros(k, device=dev, dtype=dt)

    def part(fn):
        def go():
            with torch.no_grad():
                return [fn()]
        return go

    return {"all": run,
            "fwd": part(lambda: F.conv2d(x, wt, None, stride=stride, padding=pad)),
            "bias_add": part(lambda: y.add_(bias.view(1, -1, 1, 1))),
            "bwd_data": bwd([True, False, False]),
            "bwd_filter": bwd([False, True, False]),
            "bias_grad": part(lambda: dy.sum((0, 2, 3)))}


class Server:
    def __init__(self):
        self.id = None
        self.run = None

    def case(self, spec):
        cid = json.dumps({k: v for k, v in spec.items()
                          if k not in ("warmup", "iters", "part")}, sort_keys=True)
        if cid != self.id:
            self.id, self.run = None, None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            self.run = make_case(spec)
            self.id = cid
        part = spec.get("part", "all")
        if part not in self.run:
            raise ValueError(f"unknown part '{part}' (one of {', '.join(self.run)})")
        return self.run[part]

    def time(self, spec, warmup, iters):
        run = self.case(spec)
        for _ in range(warmup):
            run()
        times = []
        grads = None
        for _ in range(iters):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            grads = run()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
        finite = all(bool(torch.isfinite(gr).all()) for gr in grads) if grads else False
        return {"times_ms": times, "finite": finite}


def hello(threads):
    props = torch.cuda.get_device_properties(0)
    return {"torch": torch.__version__, "onednn": "", "cudnn": str(torch.backends.cudnn.version()),
            "cuda": str(torch.version.cuda), "gpu": props.name.replace('"', "'"),
            "threads": torch.get_num_threads(), "threads_asked": threads,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "tf32": torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32}


def reply(server, spec, default_warmup, default_iters):
    try:
        out = server.time(spec, int(spec.get("warmup", default_warmup)),
                          int(spec.get("iters", default_iters)))
    except Exception as exc:  # one bad case (e.g. out of memory) must not end the loop
        server.id, server.run = None, None
        torch.cuda.empty_cache()
        out = {"error": f"{type(exc).__name__}: {exc}"[:400].replace("\n", " ")}
    out["id"] = spec.get("id", "")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads for the host side (0: keep)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--serve", action="store_true",
                    help="read one JSON case per line on stdin, answer one JSON line each")
    ap.add_argument("cases", nargs="*", help="JSON case objects (without --serve)")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": f"torch {torch.__version__}: no GPU", "hint": HINT_NO_GPU}),
              flush=True)
        sys.exit(3)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.set_grad_enabled(True)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.cuda.init()
    print(json.dumps(hello(a.threads)), flush=True)
    server = Server()
    if a.serve:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(reply(server, json.loads(line), a.warmup, a.iters)),
                      flush=True)
        return
    for text in a.cases:
        print(json.dumps(reply(server, json.loads(text), a.warmup, a.iters)), flush=True)


if __name__ == "__main__":
    main()
