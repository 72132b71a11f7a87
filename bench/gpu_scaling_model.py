"""The data-parallel scaling model of bench/README.md ("Scaling model for GPUs"): predicted
exposed all-reduce time and scaling efficiency of resnet50 and vgg16 on 8 GPUs of one node
and on 4 nodes x 8 GPUs, from one GPU's measured step and gradient-ready times.

    --measure OUT.json   on a CUDA machine: torchvision resnet50 / vgg16 at batch 64 per GPU,
                         fp32 (TF32 off) and AMP bf16 channels-last; forward, backward and
                         optimizer times (CUDA events, median of --iters), and when each
                         parameter's gradient is ready, relative to the start of backward
    --model IN.json      anywhere: puts the gradients into DDP-style buckets (reverse
                         parameter order, --bucket-mb, a first bucket of 1 MiB as DDP), and
                         replays a ring all-reduce per bucket, one at a time, each starting
                         when its last gradient is ready and the previous bucket is done:
                           t_ar(bytes) = alpha + 2 (p-1)/p * bytes / busbw
                         exposed = end of the last all-reduce - end of backward (>= 0);
                         efficiency = step(1 GPU) / (step(1 GPU) + exposed).
--measure prints the table too. The bandwidths and latencies of SCENARIOS are assumptions
(bench/README.md says where they come from); bench/gpu_scaling_h100.json is one measurement.
"""
import argparse
import json
import statistics
import sys

# (name, GPUs, bus bandwidth GB/s for 25 MB messages, per-all-reduce latency us); the
# figures and where they come from are in bench/README.md.
SCENARIOS = [
    ("1 node x 8, NVSwitch, busbw 350", 8, 350.0, 30.0),
    ("1 node x 8, NVSwitch, busbw 150", 8, 150.0, 30.0),
    ("4 nodes x 8, IB 4x200 Gb/s, busbw 90", 32, 90.0, 60.0),
]
DDP_FIRST_BUCKET_MB = 1.0


def measure(iters, warmup):
    import torch
    import torchvision
    torch.backends.cudnn.benchmark = True
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(), "runs": []}
    for name in ("resnet50", "vgg16"):
        for mode in ("fp32", "bf16_cl"):
            out["runs"].append(measure_one(torch, torchvision, name, mode, iters, warmup))
            r = out["runs"][-1]
            print(f"{name:9s} {mode:8s} fwd {r['fwd_ms']:7.2f} ms  bwd {r['bwd_ms']:7.2f} ms  "
                  f"opt {r['opt_ms']:5.2f} ms  step {r['step_ms']:7.2f} ms  "
                  f"{r['img_per_s']:7.0f} img/s", flush=True)
            torch.cuda.empty_cache()
    return out


def measure_one(torch, torchvision, name, mode, iters, warmup, batch=64):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).cuda().train()
    fmt = torch.channels_last if mode == "bf16_cl" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, 224, 224, device="cuda").to(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,), device="cuda")
    ready = {}

    def hook(i):
        def h(_p):
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            ready[i] = ev
        return h
    for i, p in enumerate(params):
        p.register_post_accumulate_grad_hook(hook(i))
    rec = []
    for it in range(warmup + iters):
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
        ready.clear()
        ev[0].record()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=(mode == "bf16_cl")):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        ev[1].record()
        loss.backward()
        ev[2].record()
        opt.step()
        opt.zero_grad(set_to_none=True)
        ev[3].record()
        torch.cuda.synchronize()
        if it >= warmup:
            rec.append({"fwd": ev[0].elapsed_time(ev[1]), "bwd": ev[1].elapsed_time(ev[2]),
                        "opt": ev[2].elapsed_time(ev[3]), "step": ev[0].elapsed_time(ev[3]),
                        "ready": [ev[1].elapsed_time(ready[i]) for i in range(len(params))]})
    med = {k: statistics.median(r[k] for r in rec) for k in ("fwd", "bwd", "opt", "step")}
    ready_ms = [statistics.median(r["ready"][i] for r in rec) for i in range(len(params))]
    return {"model": name, "mode": mode, "batch": batch, "iters": iters,
            "fwd_ms": med["fwd"], "bwd_ms": med["bwd"], "opt_ms": med["opt"],
            "step_ms": med["step"], "img_per_s": batch / med["step"] * 1e3,
            "params": sum(p.numel() for p in params),
            "param_numel": [p.numel() for p in params], "ready_ms": ready_ms}


def buckets(run, bucket_mb):
    """DDP's assignment: parameters in reverse registration order, cut at bucket_mb (the first
    bucket at 1 MiB); a bucket is ready when its last gradient is. -> [(ready_ms, bytes)]"""
    out, cur_bytes, cur_ready = [], 0, 0.0
    cap = DDP_FIRST_BUCKET_MB * 2**20
    for n, t in zip(reversed(run["param_numel"]), reversed(run["ready_ms"])):
        cur_bytes += 4 * n  # fp32 gradients, as DDP reduces them under AMP too
        cur_ready = max(cur_ready, t)
        if cur_bytes >= cap:
            out.append((cur_ready, cur_bytes))
            cur_bytes, cur_ready, cap = 0, 0.0, bucket_mb * 2**20
    if cur_bytes:
        out.append((cur_ready, cur_bytes))
    return out


def replay(run, p, busbw_gbs, alpha_us, bucket_mb):
    """(comm_ms total, exposed_ms, last_bucket_ms) of one step on p GPUs."""
    t, total, last = 0.0, 0.0, 0.0
    for ready, nbytes in sorted(buckets(run, bucket_mb)):
        last = alpha_us * 1e-3 + 2 * (p - 1) / p * nbytes / (busbw_gbs * 1e9) * 1e3
        t = max(t, ready) + last
        total += last
    return total, max(0.0, t - run["bwd_ms"]), last


def faster(run, s):
    """The run with its compute s times faster (what CUDA graphs, torch.compile or a better
    input pipeline buy): every time divided by s, the same bytes to reduce."""
    r = dict(run, ready_ms=[t / s for t in run["ready_ms"]])
    for k in ("fwd_ms", "bwd_ms", "opt_ms", "step_ms"):
        r[k] = run[k] / s
    r["mode"] = run["mode"] + ("" if s == 1 else f"/{s:g}")
    return r


def model_table(data, bucket_mb, speedups):
    rows = []
    for run in (faster(r, s) for s in speedups for r in data["runs"]):
        nbytes = 4 * run["params"]
        for scen, p, bw, alpha in SCENARIOS:
            comm, exposed, last = replay(run, p, bw, alpha, bucket_mb)
            step1 = run["step_ms"]
            rows.append({"model": run["model"], "mode": run["mode"], "scenario": scen,
                         "gpus": p, "grad_mb": nbytes / 1e6,
                         "n_buckets": len(buckets(run, bucket_mb)), "bwd_ms": run["bwd_ms"],
                         "step1_ms": step1, "comm_ms": comm, "last_bucket_ms": last,
                         "exposed_ms": exposed, "hidden_frac": 1 - exposed / comm,
                         "efficiency": step1 / (step1 + exposed),
                         "efficiency_no_overlap": step1 / (step1 + comm),
                         "img_per_s": p * run["batch"] / (step1 + exposed) * 1e3})
    print(f"\n{'model':8s} {'mode':9s} {'scenario':38s} {'grad MB':>7s} {'bwd ms':>7s} "
          f"{'step ms':>7s} {'comm ms':>7s} {'last':>5s} {'exposed':>7s} {'hidden':>6s} "
          f"{'eff':>5s} {'serial':>6s} {'img/s':>7s}")
    for r in rows:
        print(f"{r['model']:8s} {r['mode']:9s} {r['scenario']:38s} {r['grad_mb']:7.0f} "
              f"{r['bwd_ms']:7.1f} {r['step1_ms']:7.1f} {r['comm_ms']:7.2f} "
              f"{r['last_bucket_ms']:5.2f} {r['exposed_ms']:7.2f} {r['hidden_frac']:6.0%} "
              f"{r['efficiency']:5.0%} {r['efficiency_no_overlap']:6.0%} {r['img_per_s']:7.0f}")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--measure", metavar="OUT.json")
    ap.add_argument("--model", metavar="IN.json")
    ap.add_argument("--bucket-mb", type=float, default=25.0)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--speedup", default="1,2",
                    help="also model compute this many times faster (comma list)")
    ap.add_argument("--table-json", metavar="PATH", help="write the table rows here")
    a = ap.parse_args()
    if not (a.measure or a.model):
        sys.exit("gpu_scaling_model: give --measure OUT.json (on a GPU) or --model IN.json")
    if a.measure:
        data = measure(a.iters, a.warmup)
        with open(a.measure, "w") as f:
            json.dump(data, f)
    else:
        with open(a.model) as f:
            data = json.load(f)
    rows = model_table(data, a.bucket_mb, [float(x) for x in a.speedup.split(",")])
    if a.table_json:
        with open(a.table_json, "w") as f:
            json.dump({"device": data.get("device"), "torch": data.get("torch"),
                       "bucket_mb": a.bucket_mb, "scenarios": SCENARIOS, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
