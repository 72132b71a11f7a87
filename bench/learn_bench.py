"""Does each network (classifiers, FCN, U-Net, SegNet, the denoising U-Net) learn here as well
as PyTorch's same model and recipe?

For each row (a config with its --set overrides and a dataset), for each seed: trains ours
with `mpirun -np RANKS cnn-dist`, then bench/torch_learn.py on the same effective config
(`cnn-dist --print-config`: same data, model, optimizer, schedule, global batch and
augmentation; the same parameter count is checked first). Prints the task's metric per
epoch for both, the mean over seeds, the difference (ours - PyTorch) and the wall time, and
writes everything to --json.

    /usr/bin/python3 bench/learn_bench.py fcn unet --seeds 1 2 --json bench/results/learn.json
    /usr/bin/python3 bench/learn_bench.py --list

Data (packed into data/learn/ on first use from Debian's dataset-fashion-mnist): the
Fashion-MNIST training files' images 0-49999 for training and 50000-59999 for validation
(`cnn-pack mnist --range`), the test files for testing; scenes (`cnn-pack mnist-scenes`,
64x64) made the same way: 10000 training scenes, 2000 validation and 2000 test scenes, each
from its own images. Rows report the test split; hyperparameters are chosen with --val.
--reuse keeps runs whose results are already in --out, so a row's two sides (--side) can
run at different times.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENES = ["model.args.width=16", "model.input=[1,64,64]", "model.args.num_classes=11"]
FMNIST_32 = ["model.input=[1,32,32]", "model.args.num_classes=10", "data.eval_resize=28",
             "data.train_crop=scale_crop", "data.scale_range=[1.0,1.0]", "data.crop_padding=4"]
# Fashion-MNIST's pixel std (cnn-pack's statistics of the training set): noise of 0.2 of
# the pixel range is 0.2 / std in normalized units.
FMNIST_STD = 0.3530

ROWS = {
    "fcn": {"config": "configs/fcn.yaml", "data": "scenes", "metric": "miou",
            "sets": SCENES + ["train.epochs=6"]},
    "unet": {"config": "configs/unet.yaml", "data": "scenes", "metric": "miou",
             "sets": SCENES + ["train.epochs=6"]},
    "segnet": {"config": "configs/segnet.yaml", "data": "scenes", "metric": "miou",
               "sets": SCENES + ["train.epochs=3"]},  # 833 steps an epoch at batch 12
    "unet_denoise": {"config": "configs/unet_denoise.yaml", "data": "fmnist", "metric": "psnr",
                     "sets": ["model.args.channels=1", "model.input=[1,28,28]",
                              f"data.noise_std={0.2 / FMNIST_STD:.4f}", "train.epochs=3"]},
    "resnet20": {"config": "configs/resnet20_cifar.yaml", "data": "fmnist", "metric": "top1",
                 "sets": FMNIST_32 + ["sched.name=cosine", "train.epochs=30"]},
    "vgg11_bn": {"config": "configs/vgg11_bn.yaml", "data": "fmnist", "metric": "top1",
                 "sets": FMNIST_32 + ["model.args.width=16", "model.args.hidden=256",
                                      "model.args.pool=1", "data.batch_size=128",
                                      "optim.lr=0.05", "optim.weight_decay=0.0005",
                                      "sched.name=cosine", "train.epochs=30"]},
    "alexnet": {"config": "configs/alexnet.yaml", "data": "fmnist", "metric": "top1",
                "sets": ["model.args.width=16", "model.args.hidden=512", "model.args.pool=2",
                         "model.input=[1,112,112]", "model.args.num_classes=10",
                         "data.crop_scale=[0.35,1.0]", "data.batch_size=128",
                         "sched.name=cosine", "train.epochs=15"]},
}
DATA = {k: tuple(f"data/learn/{k}-{s}.h5" for s in ("train", "val", "test"))
        for k in ("scenes", "fmnist")}
FMNIST = "/usr/share/datasets/fashion-mnist"


def make_data(build):
    pack = os.path.join(build, "cnn-pack")
    tr = [f"{FMNIST}/train-images-idx3-ubyte.gz", f"{FMNIST}/train-labels-idx1-ubyte.gz"]
    te = [f"{FMNIST}/t10k-images-idx3-ubyte.gz", f"{FMNIST}/t10k-labels-idx1-ubyte.gz"]
    jobs = {"fmnist-train": ["mnist"] + tr + ["--range", "0:50000"],
            "fmnist-val": ["mnist"] + tr + ["--range", "50000:60000"],
            "fmnist-test": ["mnist"] + te,
            "scenes-train": ["mnist-scenes"] + tr + ["--range", "0:50000", "--count", "10000",
                                                     "--seed", "1"],
            "scenes-val": ["mnist-scenes"] + tr + ["--range", "50000:60000", "--count",
                                                   "2000", "--seed", "3"],
            "scenes-test": ["mnist-scenes"] + te + ["--count", "2000", "--seed", "2"]}
    for name, args in jobs.items():
        prefix = os.path.join(ROOT, "data", "learn", name)
        if not os.path.exists(prefix + ".h5"):
            os.makedirs(os.path.dirname(prefix), exist_ok=True)
            subprocess.run([pack] + args + ["--out", prefix], check=True,
                           stdout=subprocess.DEVNULL)


def sets_of(row, seed, val, extra):
    train, val_path, test = DATA[row["data"]]
    s = row["sets"] + [f"data.train={train}", f"data.val={val_path if val else test}",
                       f"seed={seed}", "log.pictures=false", "log.tensorboard=false",
                       "ckpt.every=0", "log.every=100"] + extra
    return [a for kv in s for a in ("--set", kv)]


def run(cmd, log, result, reuse, env=None):
    """Runs cmd unless reuse and result exists; returns its wall seconds (kept in log.time)."""
    if reuse and os.path.exists(result) and os.path.exists(log + ".time"):
        with open(log + ".time") as f:
            return float(f.read())
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    if rc != 0:
        sys.exit(f"learn_bench: {' '.join(cmd[:6])} ... failed ({rc}); see {log}")
    t = time.time() - t0
    with open(log + ".time", "w") as f:
        f.write(f"{t:.1f}")
    return t


def summary_params(cnn, cfg, sets):
    out = subprocess.run([cnn, cfg] + sets + ["--summary"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Total:"):
            return int(line.split()[1].replace(",", ""))
    sys.exit("learn_bench: no Total line in --summary")


def curve(path, metric, key="split"):
    pts = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get(key, "val") == "val" and metric in r:
                pts[int(r["epoch"])] = float(r[metric])
    return pts


def bench_row(name, a, out):
    row = ROWS[name]
    cnn = os.path.join(a.build, "cnn-dist")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    res = {"row": name, "config": row["config"], "sets": row["sets"], "metric": row["metric"],
           "split": "val" if a.val else "test", "ranks": a.ranks, "seeds": a.seeds,
           "ours": {}, "torch": {}, "time_s": {"ours": [], "torch": []}}
    sets0 = sets_of(row, a.seeds[0], a.val, a.set)
    make_data(a.build)
    ours_p = summary_params(cnn, row["config"], sets0)
    cfg = os.path.join(out, f"{name}.yaml")
    with open(cfg, "w") as f:
        subprocess.run([cnn, row["config"]] + sets0 + ["--print-config"], stdout=f, cwd=ROOT,
                       check=True)
    peer = [a.python, os.path.join(ROOT, "bench", "torch_learn.py"), "--config", cfg,
            "--threads", str(a.ranks)]
    torch_p = ours_p if a.side == "ours" else json.loads(subprocess.run(
        peer + ["--params-only"], capture_output=True, text=True, check=True).stdout)["params"]
    res["params"] = {"ours": ours_p, "torch": torch_p}
    if ours_p != torch_p:
        sys.exit(f"learn_bench: {name}: {ours_p} parameters here, {torch_p} in PyTorch")
    for seed in a.seeds:
        sets = sets_of(row, seed, a.val, a.set)
        tag = f"{name}-{'val' if a.val else 'test'}"
        if a.side in ("both", "ours"):
            rd = os.path.join(out, f"{tag}-ours-{seed}")
            mj = os.path.join(rd, "metrics.jsonl")
            if not a.reuse:
                subprocess.run(["rm", "-rf", rd], check=True)
            t = run(["mpirun", "-np", str(a.ranks), "--oversubscribe", cnn, row["config"]] +
                    sets + ["--set", f"run.dir={rd}", "--set", f"data.workers={a.workers}"],
                    rd + ".log", mj, a.reuse, env)
            res["ours"][seed] = curve(mj, row["metric"])
            res["time_s"]["ours"].append(round(t, 1))
        if a.side in ("both", "torch"):
            with open(cfg, "w") as f:
                subprocess.run([cnn, row["config"]] + sets + ["--print-config"], stdout=f,
                               cwd=ROOT, check=True)
            pj = os.path.join(out, f"{tag}-torch-{seed}.jsonl")
            stop = []
            if a.torch_epochs:  # the same schedule, stopped early: fewer epochs to compare
                batch = int(row_set(sets, "data.batch_size") or 0) or batch_of(cnn, row, sets)
                stop = ["--max-steps", str(a.torch_epochs * (samples(a.build, sets) // batch))]
            t = run(peer + ["--seed", str(seed), "--out", pj] + stop,
                    os.path.join(out, f"{tag}-torch-{seed}.log"), pj, a.reuse)
            res["torch"][seed] = curve(pj, row["metric"])
            res["time_s"]["torch"].append(round(t, 1))
        report(res)
    return res


def row_set(sets, key):
    """The value a --set list gives key (the last one), or None."""
    vals = [kv.split("=", 1)[1] for kv in sets[1::2] if kv.startswith(key + "=")]
    return vals[-1] if vals else None


def batch_of(cnn, row, sets):
    out = subprocess.run([cnn, row["config"]] + sets + ["--print-config"], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    import yaml
    return int(yaml.safe_load(out)["data"]["batch_size"])


def samples(build, sets):
    """Training samples (cnn-pack info) of the data.train a --set list names."""
    out = subprocess.run([os.path.join(build, "cnn-pack"), "info", row_set(sets, "data.train")],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return int(next(l.split()[1] for l in out.splitlines() if l.startswith("samples")))


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def report(res):
    m = res["metric"]
    seeds = sorted(set(res["ours"]) | set(res["torch"]))
    curves = list(res["ours"].values()) + list(res["torch"].values())
    epochs = sorted(set().union(*[set(c) for c in curves]))
    print(f"\n{res['row']} ({res['config']}, {res['params']['ours']:,} parameters, "
          f"{m} on {res['split']}, seeds {seeds})")
    print(f"{'epoch':>5} | " + " ".join(f"ours s{s:<3}" for s in seeds) + " | " +
          " ".join(f"torch s{s:<2}" for s in seeds) + " | mean diff")
    for e in epochs:
        o = [res["ours"].get(s, {}).get(e) for s in seeds]
        p = [res["torch"].get(s, {}).get(e) for s in seeds]
        fo = " ".join(f"{v:9.4f}" if v is not None else f"{'-':>9}" for v in o)
        fp = " ".join(f"{v:9.4f}" if v is not None else f"{'-':>9}" for v in p)
        ov, pv = [v for v in o if v is not None], [v for v in p if v is not None]
        d = f"{mean(ov) - mean(pv):+.4f}" if ov and len(pv) == len(ov) else ""
        print(f"{e:5d} | {fo} | {fp} | {d}")
    to, tp = res["time_s"]["ours"], res["time_s"]["torch"]
    print(f"wall s per run: ours {to}, torch {tp}" +
          (f", time ratio torch/ours {mean(tp) / mean(to):.2f}" if to and tp else ""))
    sys.stdout.flush()


def verdict(res):
    if not res["ours"] or not res["torch"]:
        return True
    curves = list(res["ours"].values()) + list(res["torch"].values())
    last = max(set.intersection(*[set(c) for c in curves]))  # the last epoch all sides have
    o = mean([c[last] for c in res["ours"].values()])
    p = mean([c[last] for c in res["torch"].values()])
    res["final"] = {"epoch": last, "ours": o, "torch": p, "diff": o - p}
    return o >= p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows", nargs="*", help=f"rows to run: {', '.join(ROWS)}")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds per side "
                    "(default 1 2); the comparison is of their means")
    ap.add_argument("--ranks", type=int, default=2, help="mpirun -np for ours, and the "
                    "peer's torch threads (default 2)")
    ap.add_argument("--workers", type=int, default=1, help="ours: data.workers per rank")
    ap.add_argument("--val", action="store_true",
                    help="evaluate on the val split (hyperparameter choice), not test")
    ap.add_argument("--set", action="append", default=[], help="extra KEY=VALUE for ours "
                    "and the peer (e.g. train.epochs=2)")
    ap.add_argument("--side", choices=("both", "ours", "torch"), default="both",
                    help="run one side only (then the other later with --reuse)")
    ap.add_argument("--torch-epochs", type=int, default=0, help="stop the peer after this "
                    "many epochs of the row's schedule (it is the slower side)")
    ap.add_argument("--reuse", action="store_true", help="keep runs already in --out")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "learn-bench"),
                    help="run directories, logs and the peer's metrics (default "
                    "runs/learn-bench)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list or not a.rows:
        for k, r in ROWS.items():
            print(f"{k:13} {r['config']:28} {r['data']:7} {r['metric']:5} {' '.join(r['sets'])}")
        return 0
    bad = [r for r in a.rows if r not in ROWS]
    if bad:
        sys.exit(f"learn_bench: unknown row(s) {bad}; --list shows them")
    os.makedirs(a.out, exist_ok=True)
    results, ok = [], True
    for name in a.rows:
        res = bench_row(name, a, a.out)
        good = verdict(res)
        f = res.get("final")
        if f:
            print(f"{name}: epoch {f['epoch']} mean {res['metric']} ours {f['ours']:.4f} "
                  f"torch {f['torch']:.4f} diff {f['diff']:+.4f}: "
                  f"{'no worse' if good else 'WORSE'}")
        ok &= good
        results.append(res)
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(results, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
