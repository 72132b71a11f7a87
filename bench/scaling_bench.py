#!/usr/bin/python3
"""scaling-bench: weak scaling of `cnn-dist` from 1 to 2 CPU ranks (1 thread each) against
PyTorch DDP (gloo, 1 and 2 processes x 1 thread) on the same models, in one run (issue #6,
section 6: ours 2 ranks / 1 rank >= 1.8, ours 2 ranks / DDP 2 processes >= 1.0).

Weak scaling: the per-rank batch stays fixed (64 for lenet5, 32 for resnet18_cifar), so the
global batch of 2 ranks is twice that of 1, and "scaling" is aggregate images/s of 2 ranks
over 1 rank. Every configuration is a fresh launch (`mpirun ... cnn-dist` or
`python3 bench/torch_ddp.py`); the configurations take turns within each round
(A B C D, then D C B A, ...) so that load from other processes falls on all of them, and the
table gives medians over rounds. A benchmark, not a test: needs /usr/bin/python3 with torch.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
FASHION = "/usr/share/datasets/fashion-mnist"
CIFAR_LIKE = 4096  # synthetic 32x32 RGB images for resnet18_cifar (10 classes)

# model: per-rank batch, warm-up steps (not timed), timed steps, log.every
MODELS = {
    "lenet5": {"batch": 64, "warmup": 50, "steps": 300, "every": 50},
    "resnet18_cifar": {"batch": 32, "warmup": 3, "steps": 12, "every": 3},
}
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1"}


def run(cmd, timeout, env=None):
    """Runs cmd, returns its stdout; on failure raises with the tail of stderr."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-8:]
        raise RuntimeError(f"exit {p.returncode}: {' '.join(cmd)}\n  " + "\n  ".join(tail))
    return p.stdout


def make_cifar_like(folder, n, seed=0):
    """n smooth random 32x32 RGB PNGs in 10 class folders (ImageFolder layout)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c in range(10):
        os.makedirs(os.path.join(folder, f"class{c}"), exist_ok=True)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) / 31.0
    for i in range(n):
        a = rng.uniform(0, 255, (3, 3)).astype(np.float32)  # per channel: base, dx, dy
        img = a[:, 0, None, None] * 0.5 + a[:, 1, None, None] * 0.5 * xx + \
            a[:, 2, None, None] * 0.5 * yy + rng.normal(0, 12, (3, 32, 32))
        img = np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        Image.fromarray(img).save(os.path.join(folder, f"class{i % 10}", f"{i:05d}.png"))


def prepare(model, pack, work):
    """Packs the model's training set once per work folder; returns its master file."""
    out = os.path.join(work, model, "train")
    if os.path.exists(out + ".h5"):
        return out + ".h5"
    if model == "lenet5":
        imgs = os.path.join(FASHION, "train-images-idx3-ubyte.gz")
        labels = os.path.join(FASHION, "train-labels-idx1-ubyte.gz")
        if not os.path.exists(imgs):
            sys.exit(f"scaling-bench: {imgs} is missing; apt-get install dataset-fashion-mnist")
        run([pack, "mnist", imgs, labels, "--out", out, "--mode", "raw"], 600)
    else:
        src = os.path.join(work, model, "png")
        make_cifar_like(src, CIFAR_LIKE)
        run([pack, "imagefolder", src, "--out", out, "--mode", "raw", "--size", "32x32"], 600)
    return out + ".h5"


def ours(a, model, data, ranks, bind, tag):
    m = MODELS[model]
    run_dir = os.path.join(a.work, "runs", f"{model}-{tag}")
    shutil.rmtree(run_dir, ignore_errors=True)
    sets = {"device": "cpu", "threads": 1, "data.train": data, "data.val": "null",
            "data.batch_size": m["batch"] * ranks, "data.workers": a.workers,
            "train.max_steps": m["warmup"] + m["steps"], "train.epochs": 1000,
            "log.every": m["every"], "eval.every": 0, "ckpt.every": 0,
            "run.dir": run_dir, "optim.lr": 0.01}
    cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", bind,
           os.path.join(a.build, "cnn-dist"), os.path.join(SRC, "configs", model + ".yaml")]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    run(cmd, a.timeout, MPI_ENV)
    lines = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "img_per_s" in r and r.get("split", "train") == "train":
                lines.append(r)
    skip = m["warmup"] // m["every"]
    timed = lines[skip:]
    if skip < 1 or not timed:
        raise RuntimeError(f"{run_dir}/metrics.jsonl: {len(lines)} training lines, "
                           f"need a warm-up line and timed ones")
    imgs = m["every"] * m["batch"] * ranks  # per line: log.every steps of the global batch
    if all("time_s" in r for r in lines):   # seconds since start: intervals from the clock
        total = timed[-1]["time_s"] - lines[skip - 1]["time_s"]
    else:                                   # else from each line's rate
        total = sum(imgs / r["img_per_s"] for r in timed)
    return {"img_per_s": imgs * len(timed) / total, "timed_steps": m["every"] * len(timed),
            "data_wait_frac": sum(r.get("data_wait_s", float("nan")) for r in timed) / total,
            "comm_exposed_frac":
                sum(r.get("comm_exposed_s", float("nan")) for r in timed) / total,
            "loss": timed[-1]["loss"], "cmd": " ".join(cmd)}


def ddp(a, model, procs):
    m = MODELS[model]
    cmd = [a.python, os.path.join(HERE, "torch_ddp.py"), "--model", model, "--nprocs",
           str(procs), "--batch", str(m["batch"]), "--warmup", str(m["warmup"]),
           "--steps", str(m["steps"])]
    if a.bind[0] == "core":  # the placement of our ranks in the verdict
        cmd.append("--pin")
    out = run(cmd, a.timeout, {"OMP_NUM_THREADS": "1"}).strip().splitlines()[-1]
    r = json.loads(out)
    if "error" in r:
        raise RuntimeError(r["error"])
    r["cmd"] = " ".join(cmd)
    return r


def configs(a):
    """(name, function) of every configuration measured per model."""
    cs = []
    for bind in a.bind:
        cs.append((f"ours1-{bind}", lambda md, d, b=bind: ours(a, md, d, 1, b, f"1-{b}")))
        cs.append((f"ours2-{bind}", lambda md, d, b=bind: ours(a, md, d, 2, b, f"2-{b}")))
    if not a.no_torch:
        cs.append(("ddp1", lambda md, d: ddp(a, md, 1)))
        cs.append(("ddp2", lambda md, d: ddp(a, md, 2)))
    return cs


def med(rs, key):
    v = [r[key] for r in rs if key in r]
    return statistics.median(v) if v else float("nan")


def measure(a, model, data):
    cs = configs(a)
    res = {name: [] for name, _ in cs}
    errors = {}
    for rnd in range(a.rounds):
        order = cs if rnd % 2 == 0 else cs[::-1]
        for name, fn in order:
            if name in errors:
                continue
            try:
                r = fn(model, data)
            except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
                errors[name] = str(exc)
                print(f"  {model} {name}: FAILED {exc}", flush=True)
                continue
            res[name].append(r)
            print(f"  {model} round {rnd} {name:11s} {r['img_per_s']:9.1f} img/s  "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    return res, errors


def ratio(x, y):
    return x / y if y and y == y and x == x else float("nan")


def summarize(a, model, res):
    s = {name: {"img_per_s": med(rs, "img_per_s"),
                "img_per_s_max": max((r["img_per_s"] for r in rs), default=float("nan")),
                "data_wait_frac": med(rs, "data_wait_frac"),
                "comm_exposed_frac": med(rs, "comm_exposed_frac"), "runs": rs}
         for name, rs in res.items()}
    b = a.bind[0]
    out = {"configs": s, "bind": b}
    for sfx, key in (("", "img_per_s"), ("_best", "img_per_s_max")):
        def get(name):
            return s[name][key] if name in s else float("nan")
        o1, o2, d1, d2 = get(f"ours1-{b}"), get(f"ours2-{b}"), get("ddp1"), get("ddp2")
        out.update({"scaling_ours" + sfx: ratio(o2, o1), "scaling_ddp" + sfx: ratio(d2, d1),
                    "ours2_over_ddp2" + sfx: ratio(o2, d2),
                    "ours1_over_ddp1" + sfx: ratio(o1, d1)})
    return out


def pct(x):
    return f"{x:.1%}" if x == x else "-"


def verdict(x, target):
    return "ok" if x == x and x >= target else ("n/a" if x != x else "MISSED")


def print_table(a, results):
    print(f"\nscaling-bench: weak scaling, fixed per-rank batch, 1 thread per rank; medians "
          f"of {a.rounds} rounds (img/s aggregate over ranks; [max])")
    for model, r in results.items():
        print(f"\n{model} (per-rank batch {MODELS[model]['batch']}):")
        print(f"  {'config':12s} {'img/s':>9s} {'[max]':>9s} {'data wait':>9s} "
              f"{'exposed comm':>12s}")
        for name, c in r["configs"].items():
            print(f"  {name:12s} {c['img_per_s']:9.1f} {c['img_per_s_max']:9.1f} "
                  f"{pct(c['data_wait_frac']):>9s} {pct(c['comm_exposed_frac']):>12s}")
        b = r["bind"]
        print(f"  ours 2/1 ranks (--bind-to {b}) = {r['scaling_ours']:.2f} "
              f"[best rounds {r['scaling_ours_best']:.2f}]  (target >= 1.8: "
              f"{verdict(r['scaling_ours'], 1.8)}); DDP 2/1 = {r['scaling_ddp']:.2f} "
              f"[{r['scaling_ddp_best']:.2f}]")
        print(f"  ours-2 / DDP-2 = {r['ours2_over_ddp2']:.2f} "
              f"[{r['ours2_over_ddp2_best']:.2f}]  (target >= 1.0: "
              f"{verdict(r['ours2_over_ddp2'], 1.0)}); ours-1 / DDP-1 = "
              f"{r['ours1_over_ddp1']:.2f} [{r['ours1_over_ddp1_best']:.2f}]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build"),
                    help="folder with cnn-dist and cnn-pack (default: SRC/build)")
    ap.add_argument("--work", help="data and run folders (default: a temp folder, removed)")
    ap.add_argument("--models", default="lenet5,resnet18_cifar")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bind", default="core,none",
                    help="mpirun --bind-to policies for our ranks, comma separated; the "
                         "first is the verdict's, and DDP's processes are pinned one per "
                         "core when it is core (default core,none)")
    ap.add_argument("--workers", type=int, default=1, help="data.workers per rank")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per launch")
    ap.add_argument("--python", default="/usr/bin/python3", help="python with torch")
    ap.add_argument("--no-torch", action="store_true", help="skip the DDP peer")
    ap.add_argument("--json", help="write settings, every run and the summary here")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args()
    a.bind = a.bind.split(",")
    for exe in ("cnn-dist", "cnn-pack"):
        if not os.access(os.path.join(a.build, exe), os.X_OK):
            sys.exit(f"scaling-bench: no {exe} in {a.build}; build it "
                     f"(cmake --build {a.build} --target {exe}) or pass --build DIR")
    keep = a.work is not None
    a.work = os.path.abspath(a.work) if keep else tempfile.mkdtemp(prefix="scaling-bench-")
    os.makedirs(a.work, exist_ok=True)
    models = a.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        sys.exit(f"scaling-bench: unknown model {unknown}; choose from {sorted(MODELS)}")
    load0 = os.getloadavg()
    t0 = time.time()
    results, errors = {}, {}
    try:
        for model in models:
            data = prepare(model, os.path.join(a.build, "cnn-pack"), a.work)
            res, errors[model] = measure(a, model, data)
            results[model] = summarize(a, model, res)
    finally:
        if not keep:
            shutil.rmtree(a.work, ignore_errors=True)
    print_table(a, results)
    print(f"\nload average {load0[0]:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"{time.time() - t0:.0f} s; {os.cpu_count()} cores")
    missed = any(verdict(r["scaling_ours"], 1.8) != "ok" or
                 verdict(r["ours2_over_ddp2"], 1.0) != "ok" for r in results.values())
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"settings": {k: v for k, v in vars(a).items()}, "models": MODELS,
                       "load_before": load0, "load_after": os.getloadavg(),
                       "cores": os.cpu_count(), "results": results, "errors": errors}, f,
                      indent=1)
    failed = any(errors.values())
    sys.exit(1 if a.check and (missed or failed) else 0)


if __name__ == "__main__":
    main()
