#!/usr/bin/python3
"""PyTorch's same model and recipe as a cnn-dist config, for issue #17 point 3: our learning is
judged "no worse than PyTorch's same model and recipe at the same epoch, over 2 seeds".

    cnn-dist CONFIG --set ... --print-config > resolved.yaml
    /usr/bin/python3 bench/torch_learn.py --config resolved.yaml [--model NAME] [--seed S]
        [--threads T] [--epochs E] [--out METRICS.jsonl] [--params-only]

Everything comes from the resolved config (every default filled in): the network
(bench/torch_learn_nets.py; --model fcn|unet|segnet|unet_denoise|resnet20|vgg|alexnet, else
guessed from run.dir's basename), its sizes (model.input, model.args), the data (whole splits
in memory, our augmentation: bench/torch_learn_data.py), the global batch (one process takes
all of data.batch_size), the optimizer (torch.optim.SGD / AdamW, optim.decay_norm_and_bias
exempting biases and norm scales), the schedule (src/train/sched.c, set per step) and the loss.
The sampler is ours in distribution: a random permutation per epoch, the last partial batch
dropped (src/data/sampler.c), so both sides take the same steps per epoch.

Output: one JSON line per epoch on stdout and in --out: {"epoch", "step", "loss" (mean
training loss of the epoch), "lr" (of its last step), "time_s" (since training began), then
the evaluation's keys as our metrics.jsonl names them (src/train/metrics.c), the validation
loss as "val_loss": classifiers top1, top5; segmentation pixel_acc, miou; denoising psnr,
psnr_input; and "n" (samples or counted pixels)}. --params-only prints {"params": N}, to be
compared with the total of `cnn-dist CONFIG --summary`. Progress and warnings go to stderr.
"""
import argparse
import json
import math
import os
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import yaml
except ImportError as exc:
    sys.exit(f"torch_learn.py: cannot import {exc.name}; run it with /usr/bin/python3 "
             "(Debian's python3-torch, python3-yaml, python3-h5py)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_learn_data as D  # noqa: E402
import torch_learn_nets as N  # noqa: E402

RUN_DIR_NAMES = {"fcn": "fcn", "unet": "unet", "segnet": "segnet",
                 "unet_denoise": "unet_denoise", "resnet20_cifar": "resnet20",
                 "alexnet": "alexnet"}


def fail(msg):
    print(f"torch_learn.py: {msg}", file=sys.stderr)
    sys.exit(2)


def model_name(rc, given):
    if given:
        return given
    base = os.path.basename(os.path.normpath(str(rc.get("run", {}).get("dir", ""))))
    if base.startswith("vgg"):
        return "vgg"
    if base in RUN_DIR_NAMES:
        return RUN_DIR_NAMES[base]
    fail(f"cannot tell the network from run.dir={base!r}; pass --model "
         f"{'|'.join(N.TASKS)}")


def loss_spec(model_cfg):
    loss = model_cfg.get("loss") or {"type": "softmax_cross_entropy"}
    if isinstance(loss, str):
        loss = {"type": loss}
    return {"type": loss.get("type", "softmax_cross_entropy"),
            "ignore": int(loss.get("ignore_index", -100)),
            "smoothing": float(loss.get("label_smoothing", 0.0))}


def check_recipe(rc):
    """Refuse what this peer does not do, rather than train another recipe silently."""
    t = rc["train"]
    bad = [f"train.{k}={t[k]}" for k, off in (("accum_steps", 1), ("mixup", 0), ("cutmix", 0),
                                               ("ema", 0)) if float(t.get(k, off)) != off]
    if bad:
        fail(f"{', '.join(bad)} is not implemented in the peer; compare without it")
    if rc.get("precision", "fp32") != "fp32" or rc.get("channels_last"):
        print("torch_learn.py: warning: the peer trains in fp32, NCHW", file=sys.stderr)
    if rc["optim"]["name"] == "sgd" and rc["optim"].get("nesterov") and \
            float(rc["optim"]["momentum"]) == 0:
        fail("optim.nesterov needs optim.momentum > 0")


def sched_lr(rc, step, spe):
    """src/train/sched.c: per-step linear warmup, then the epoch schedule."""
    o, s = rc["optim"], rc["sched"]
    lr, min_lr = float(o["lr"]), float(s.get("min_lr", 0))
    scale = (int(rc["data"]["batch_size"]) / int(o.get("ref_batch", 256))
             if o.get("lr_scaling", "none") == "linear" else 1.0)
    w = int(math.floor(float(s.get("warmup_epochs", 0)) * spe + 0.5))
    if step < w:
        return scale * lr * (step + 1) / w
    e, we = step // spe, w // spe
    t_max = max(1, int(rc["train"]["epochs"]) - we)
    k = min(e - we, t_max)
    name = s["name"]
    if name == "constant":
        v = lr
    elif name == "step":
        v = lr * float(s["gamma"]) ** (e // int(s["step_size"]))
    elif name == "multistep":
        v = lr * float(s["gamma"]) ** sum(int(m) <= e for m in s["milestones"])
    elif name == "cosine":
        v = min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * k / t_max))
    elif name == "poly":
        v = min_lr + (lr - min_lr) * (1.0 - k / t_max) ** float(s["power"])
    else:
        fail(f"sched.name={name!r} is unknown")
    return scale * v


def make_optimizer(rc, model):
    o = rc["optim"]
    wd = float(o["weight_decay"])
    decay, exempt = [], []
    for mod in model.modules():
        norm = isinstance(mod, nn.modules.batchnorm._BatchNorm)
        for pname, p in mod.named_parameters(recurse=False):
            (exempt if norm or pname == "bias" else decay).append(p)
    if o.get("decay_norm_and_bias", True):
        groups = [{"params": decay + exempt}]
    else:
        groups = [{"params": decay}, {"params": exempt, "weight_decay": 0.0}]
    if o["name"] == "sgd":
        return torch.optim.SGD(groups, lr=float(o["lr"]), momentum=float(o["momentum"]),
                               nesterov=bool(o.get("nesterov", False)), weight_decay=wd)
    if o["name"] == "adamw":
        b = [float(v) for v in o.get("betas", [0.9, 0.999])]
        return torch.optim.AdamW(groups, lr=float(o["lr"]), betas=tuple(b),
                                 eps=float(o.get("eps", 1e-8)), weight_decay=wd)
    fail(f"optim.name={o['name']!r} is unknown")


def normalization(rc, info, C):
    """data.mean/std, else the training set's (src/train/train_setup_data.c fill_augment)."""
    d = rc["data"]
    if d.get("mean"):
        pick = lambda v, c: float(v[0] if len(v) == 1 else v[c])  # noqa: E731
        mean = [pick(d["mean"], c) for c in range(C)]
        std = [pick(d["std"], c) for c in range(C)]
    else:
        mean, std = list(info["mean"][:C]), list(info["std"][:C])
        m3, s3 = info["mean"], info["std"]
        if C == 1 and len(m3) == 3 and not (m3[0] == m3[1] == m3[2]):
            mean = [sum(w * v for w, v in zip(D.LUMA, m3))]
            std = [sum(w * v for w, v in zip(D.LUMA, s3))]
    return mean, [s if s > 0 else 1.0 for s in std]


def compute_loss(spec, out, y):
    if spec["type"] == "mse_loss":
        return F.mse_loss(out, y)
    if not bool((y != spec["ignore"]).any()):
        return out.sum() * 0.0  # ours: all ignored gives 0, not PyTorch's NaN
    return F.cross_entropy(out, y, ignore_index=spec["ignore"],
                           label_smoothing=spec["smoothing"])


def map_ignore(task, y, spec):
    if task == "segment":
        y[y == D.MASK_IGNORE] = spec["ignore"]
    return y


class Metrics:
    """src/train/metrics.c's accumulators and results."""

    def __init__(self, task, classes, ignore, peak):
        self.task, self.K, self.ignore, self.peak = task, classes, ignore, peak
        self.loss = self.count = self.n = 0.0
        self.top1 = self.top5 = self.psnr = self.psnr_in = 0.0
        self.cm = torch.zeros(classes * classes, dtype=torch.float64) if task == "segment" \
            else None

    def add(self, spec, out, y, x):
        valid = (y != self.ignore) & (y != -100) if self.task != "denoise" else None
        if self.task == "denoise":
            self.loss += float(((out.double() - y.double()) ** 2).sum())
            self.count += y.numel()
            self.psnr += float(self._psnr(out, y).sum())
            self.psnr_in += float(self._psnr(x, y).sum())
            self.n += y.shape[0]
            return
        cnt = int(valid.sum())
        if cnt:
            self.loss += float(F.cross_entropy(out, y, ignore_index=spec["ignore"],
                                               label_smoothing=spec["smoothing"],
                                               reduction="sum"))
            self.count += cnt
        if self.task == "classify":
            yv, ov = y[valid], out[valid]
            true = ov.gather(1, yv[:, None])
            above = ~(ov <= true)  # strictly greater, or NaN
            above.scatter_(1, yv[:, None], False)
            rank = above.sum(1)
            self.top1 += float((rank < 1).sum())
            self.top5 += float((rank < 5).sum())
            self.n += cnt
        else:
            pred = out.argmax(1)[valid]
            self.cm += torch.bincount(y[valid] * self.K + pred, minlength=self.K ** 2).double()
            self.n += cnt

    def _psnr(self, a, b):
        mse = ((a.double() - b.double()) ** 2).flatten(1).mean(1)
        floor = self.peak ** 2 * 10.0 ** (-100.0 / 10.0)
        return 10.0 * torch.log10(self.peak ** 2 / mse.clamp(min=floor))

    def result(self):
        r = {"val_loss": self.loss / self.count if self.count else 0.0}
        n = self.n
        if self.task == "classify":
            r.update(top1=self.top1 / n if n else 0.0, top5=self.top5 / n if n else 0.0)
        elif self.task == "segment":
            cm = self.cm.view(self.K, self.K)
            row, col, diag = cm.sum(1), cm.sum(0), cm.diag()
            present = (row + col) > 0
            iou = diag[present] / (row + col - diag)[present]
            r.update(pixel_acc=float(diag.sum() / row.sum()) if row.sum() > 0 else 0.0,
                     miou=float(iou.mean()) if present.any() else 0.0)
        else:
            r.update(psnr=self.psnr / n if n else 0.0, psnr_input=self.psnr_in / n if n else None)
        r["n"] = int(n)
        return r


def evaluate(ctx, model):
    model.eval()
    m = Metrics(ctx["task"], ctx["classes"], ctx["loss"]["ignore"], ctx["peak"])
    noise = torch.Generator().manual_seed(ctx["seed"] + 1)  # the same noise at every eval
    val, eb = ctx["val"], ctx["eval_batch"]
    with torch.no_grad():
        for first in range(0, val.n, eb):
            idx = list(range(first, min(first + eb, val.n)))
            x, y = ctx["aug"].batch(val, idx, False, noise_gen=noise)
            y = map_ignore(ctx["task"], y, ctx["loss"])
            m.add(ctx["loss"], model(x), y, x)
    model.train()
    return m.result()


def finite(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None


def train(ctx, model, out_file):
    rc, spec, task = ctx["rc"], ctx["loss"], ctx["task"]
    tr, B = ctx["train"], int(rc["data"]["batch_size"])
    spe = tr.n // B
    if spe < 1:
        fail(f"the training set has {tr.n} samples, fewer than one batch of {B}")
    opt = make_optimizer(rc, model)
    params = [p for p in model.parameters()]
    clip = float(rc["train"].get("grad_clip", 0))
    g = ctx["aug"].g
    step, t0, window = 0, time.time(), 0.0
    for epoch in range(1, int(rc["train"]["epochs"]) + 1):
        perm = torch.randperm(tr.n, generator=g)
        loss_sum, taken, lr = 0.0, 0, 0.0
        for s in range(spe):
            if ctx["max_steps"] and step >= ctx["max_steps"]:
                break
            x, y = ctx["aug"].batch(tr, perm[s * B:(s + 1) * B].tolist(), True)
            y = map_ignore(task, y, spec)
            lr = sched_lr(rc, step, spe)
            for grp in opt.param_groups:
                grp["lr"] = lr
            loss = compute_loss(spec, model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            step += 1
            taken += 1
            loss_sum += float(loss)
            window += float(loss)
            if ctx["log_every"] and step % ctx["log_every"] == 0:  # as ours: mean since last
                print(json.dumps({"step": step, "loss": finite(window / ctx["log_every"]),
                                  "lr": lr, "time_s": round(time.time() - t0, 3)}),
                      file=sys.stderr, flush=True)
                window = 0.0
        if not taken:
            break
        line = {"epoch": epoch, "step": step, "loss": finite(loss_sum / taken), "lr": lr}
        line.update(evaluate(ctx, model) if ctx["val"] is not None else {})
        line["time_s"] = round(time.time() - t0, 3)
        text = json.dumps({k: finite(v) for k, v in line.items()})
        print(text, flush=True)
        if out_file:
            out_file.write(text + "\n")
            out_file.flush()
        if ctx["max_steps"] and step >= ctx["max_steps"]:
            break


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="what cnn-dist --print-config printed")
    p.add_argument("--model", choices=sorted(N.TASKS), help="default: from run.dir")
    p.add_argument("--seed", type=int, help="default: the config's seed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, help="as --set train.epochs=E (schedule included)")
    p.add_argument("--out", help="also write the epoch lines to this JSONL file")
    p.add_argument("--params-only", action="store_true", help='print {"params": N}, exit')
    p.add_argument("--limit", type=int, default=0, help="train on the first N samples only")
    p.add_argument("--val-limit", type=int, default=0, help="evaluate the first N only")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop after N steps, evaluate, exit (as train.max_steps)")
    p.add_argument("--init-weights", help="start from our checkpoint or weights file "
                   "(same state_dict keys; default: the config's train.init_weights)")
    p.add_argument("--eval-only", action="store_true",
                   help="evaluate once (with --init-weights: compare with `cnn-dist eval`)")
    p.add_argument("--log-every", type=int, default=0,
                   help="a JSON line per N steps on stderr (step, mean loss of those, lr)")
    return p.parse_args()


def main():
    a = parse_args()
    with open(a.config) as f:
        rc = yaml.safe_load(f)
    name = model_name(rc, a.model)
    task, spec = N.TASKS[name], loss_spec(rc["model"])
    if (spec["type"] == "mse_loss") != (task == "denoise"):
        fail(f"model {name} ({task}) does not go with loss {spec['type']}")
    seed = int(rc.get("seed", 0) if a.seed is None else a.seed)
    if a.epochs:
        rc["train"]["epochs"] = a.epochs
    torch.set_num_threads(a.threads)
    torch.manual_seed(seed)
    try:
        model = N.build(name, rc["model"])
    except (N.SeqError, RuntimeError, KeyError) as exc:
        fail(f"cannot build {name} from the config: {exc}")
    if a.params_only:
        print(json.dumps({"params": sum(p.numel() for p in model.parameters())}))
        return
    init = a.init_weights or rc["train"].get("init_weights")
    if init:
        try:
            k = N.load_ours(model, init, bool(rc["train"].get("init_strict", True)))
        except (OSError, KeyError, RuntimeError) as exc:
            fail(f"cannot load {init}: {exc}")
        print(f"torch_learn.py: {k} tensors from {init}", file=sys.stderr)
    check_recipe(rc)
    d, C = rc["data"], int(rc["model"]["input"][0])
    if not d.get("train"):
        fail("the config names no data.train")
    tr = D.Split(d["train"], C, a.limit)
    val = D.Split(d["val"], C, a.val_limit) if d.get("val") else None
    mean, std = normalization(rc, tr.info, C)
    gen = torch.Generator().manual_seed(seed ^ 0x5A4D504C)
    aug = D.Augment(d, rc["model"]["input"], mean, std, task, gen)
    classes = int((rc["model"].get("args") or {}).get("num_classes", 0))
    if task != "denoise" and len(tr.info["classes"]) > classes:
        fail(f"{d['train']} has {len(tr.info['classes'])} classes but the model outputs "
             f"{classes}; set model.args.num_classes")
    ev = int(rc.get("eval", {}).get("batch_size", 0)) or int(d["batch_size"])
    ctx = {"rc": rc, "task": task, "loss": spec, "train": tr, "val": val, "aug": aug,
           "classes": classes, "peak": 1.0 / std[0], "seed": seed, "eval_batch": ev,
           "max_steps": a.max_steps, "log_every": a.log_every}
    print(f"torch_learn.py: {name} ({task}), {sum(p.numel() for p in model.parameters())} "
          f"parameters, {tr.n} training samples, batch {d['batch_size']}, "
          f"{tr.n // int(d['batch_size'])} steps per epoch, seed {seed}, "
          f"{a.threads} threads, train crop {'scale' if aug.scale_crop else 'resized'}",
          file=sys.stderr, flush=True)
    if a.eval_only:
        if val is None:
            fail("--eval-only needs data.val")
        line = dict(epoch=0, **evaluate(ctx, model))
        print(json.dumps({k: finite(v) for k, v in line.items()}))
        return
    out_file = open(a.out, "w") if a.out else None
    try:
        train(ctx, model, out_file)
    finally:
        if out_file:
            out_file.close()


if __name__ == "__main__":
    main()
