"""PyTorch DDP peer of bench/scaling_bench.py: N processes x 1 thread train the same model as
configs/<model>.yaml (bench/torch_models.py) with DistributedDataParallel over gloo on this
machine, and print one JSON line with the aggregate training images/s.

Each process holds a pool of uint8 samples in memory (random, seeded by rank) and builds every
batch as our loader does for a raw dataset: gather uint8 samples, scale to [0, 1], normalise
by mean/std. Then forward, cross entropy, backward (DDP all-reduces 25 MB buckets during it),
SGD step with momentum and weight decay. --warmup untimed steps, a barrier, --steps timed
steps, a barrier: images/s = N * batch * steps / elapsed (the slowest rank's clock); rank 0
prints the line.
"""
import argparse
import json
import os
import socket
import sys
import time

try:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP
except ImportError as exc:
    print(json.dumps({"error": f"cannot import torch ({exc})",
                      "hint": "apt-get install python3-torch (Debian; run /usr/bin/python3)"}),
          flush=True)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import MODELS  # noqa: E402  (the same models model-bench compares)

POOL = 512  # samples per rank held in memory; batches are drawn from it at random


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, a, port):
    if a.pin:  # as mpirun --bind-to core: process r, and the threads it starts, on core r
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[rank % len(cpus)]})
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=a.nprocs)
    build, chw = MODELS[a.model]
    torch.manual_seed(1)  # every replica starts equal (DDP also broadcasts rank 0's weights)
    model = DDP(build().train(), bucket_cap_mb=a.bucket_mb)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(1000 + rank)
    pool = torch.randint(0, 256, (POOL,) + chw, dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (POOL,), generator=g)
    mean = torch.full((chw[0], 1, 1), 0.5)
    std = torch.full((chw[0], 1, 1), 0.25)

    def step():
        idx = torch.randint(0, POOL, (a.batch,), generator=g)
        x = (pool[idx].float() / 255.0 - mean) / std
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    dist.barrier()
    elapsed = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    if rank == 0:
        s = float(elapsed)
        print(json.dumps({"model": a.model, "nprocs": a.nprocs, "batch_per_rank": a.batch,
                          "steps": a.steps, "elapsed_s": s,
                          "img_per_s": a.nprocs * a.batch * a.steps / s,
                          "loss": float(loss), "finite": bool(torch.isfinite(loss)),
                          "params": sum(p.numel() for p in model.parameters()),
                          "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "pinned": a.pin}),
              flush=True)
    # No destroy_process_group: with torch 1.13 it sometimes never returned on the rank
    # left last (seen here, once its peer had exited), which left mp.spawn waiting forever.
    sys.stdout.flush()
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--nprocs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64, help="per-process batch")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--bucket-mb", type=float, default=25.0)
    ap.add_argument("--pin", action="store_true", help="pin process r to the r-th core")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(worker, args=(a, free_port()), nprocs=a.nprocs, join=True)


if __name__ == "__main__":
    main()
