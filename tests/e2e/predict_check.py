#!/usr/bin/python3
"""Checks of cnn-dist predict and eval outputs with parsers we did not write (Python's json
and csv): every file they write must parse, and its numbers must agree with an independent
source. Standard library only (python3 is installed by tools/install-deps.sh).

    predict_check.py eval-vs-train METRICS.jsonl EVAL.json CLASS_COUNT
    predict_check.py predict-vs-eval PREDICTIONS.jsonl EVAL_SAMPLES.csv N
    predict_check.py classes PREDICTIONS.jsonl NAME,NAME,... N
    predict_check.py torchvision PREDICTIONS.jsonl FIXTURE.json TOL
    predict_check.py segment PREDICTIONS.jsonl CLASSES N
    predict_check.py segment-eval EVAL.json CLASSES
    predict_check.py denoise PREDICTIONS.jsonl N
"""
import csv
import json
import math
import os
import sys


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def close(a, b, tol):
    return abs(a - b) <= tol * max(1.0, abs(b))


def eval_vs_train(metrics, eval_json, class_count):
    """eval equals the last evaluation of the run that wrote the checkpoint."""
    evals = [l for l in lines(metrics) if l.get("split") == "val"]
    if not evals:
        fail(f"{metrics} has no evaluation line (\"split\": \"val\")")
    last = evals[-1]
    with open(eval_json) as f:
        ev = json.load(f)
    # Hit counts are exact, so top-1, top-5 and n are equal; the loss is a sum of per-chunk
    # float32 means, and another rank count cuts other chunks: equal to float32 rounding
    # (measured: 3e-8 relative between 1 and 2 ranks in e2e.scenes).
    for k, tol in (("loss", 1e-6), ("top1", 1e-8), ("top5", 1e-8), ("n", 1e-8)):
        if not close(ev[k], last[k], tol):
            fail(f"eval {k} {ev[k]} != training's last evaluation {last[k]}")
    pc = ev["per_class"]
    for key in ("precision", "recall"):
        for c, v in enumerate(last[key]):
            ours = pc[c][key]  # null (None) for a class never predicted
            if (v is None) != (ours is None) or (v is not None and not close(ours, v, 1e-5)):
                fail(f"class {c} {key}: eval {ours}, metrics.jsonl {v}")
    cm = ev["confusion"]
    rows = [sum(r) for r in cm]
    if any(r != class_count for r in rows) or any(p["support"] != class_count for p in pc):
        fail(f"confusion rows {rows} do not sum to the class counts ({class_count})")
    diag = sum(cm[i][i] for i in range(len(cm)))
    if not close(diag / ev["n"], ev["top1"], 1e-12):
        fail(f"confusion diagonal {diag} / {ev['n']} != top1 {ev['top1']}")
    pairs = ev["most_confused"]
    counts = [p["count"] for p in pairs]
    if counts != sorted(counts, reverse=True) or any(
            cm[p["true_index"]][p["predicted_index"]] != p["count"] for p in pairs):
        fail("most_confused is not the confusion matrix's largest off-diagonal entries")
    off = sorted((cm[i][j] for i in range(len(cm)) for j in range(len(cm)) if i != j),
                 reverse=True)
    if counts != off[:len(counts)]:
        fail(f"most_confused counts {counts} != the largest off-diagonal {off[:len(counts)]}")
    print(f"eval.json = last evaluation of training: loss {ev['loss']}, top1 {ev['top1']}, "
          f"per-class precision/recall equal, rows sum to {class_count}, diagonal = top-1")


def predict_vs_eval(preds, samples, n):
    """predict's top-1 on the PNG files = eval's prediction on the packed samples."""
    p = lines(preds)
    if len(p) != n:
        fail(f"{len(p)} prediction lines for {n} files")
    with open(samples) as f:
        rows = {int(r["index"]): r for r in csv.DictReader(f)}
    stems = [int(os.path.basename(l["file"]).split(".")[0]) for l in p]
    if stems != list(range(n)):
        fail("predictions are not in input order")
    for i, l in enumerate(p):
        top = l["top"][0]
        r = rows[i]
        if top["index"] != int(r["predicted"]):
            fail(f"{l['file']}: predict says {top['index']}, eval {r['predicted']}")
        if not close(top["prob"], float(r["probability"]), 2e-5):
            fail(f"{l['file']}: probability {top['prob']} vs eval's {r['probability']}")
    print(f"predict = eval on all {n} images (top-1 class and its probability), in order")


def classes(preds, names, n):
    """Every class of every line is one of the training set's names, at its index; counts
    the files whose top class is the name of their folder (photos kept in class folders)."""
    p, names = lines(preds), names.split(",")
    if len(p) != n:
        fail(f"{len(p)} prediction lines for {n} files")
    for l in p:
        for t in l["top"]:
            if not 0 <= t["index"] < len(names) or t["class"] != names[t["index"]]:
                fail(f"{l['file']}: class {t['class']!r} at index {t['index']} is not one of "
                     f"{names} at its index")
    hits = sum(os.path.basename(os.path.dirname(l["file"])) == l["top"][0]["class"] for l in p)
    print(f"{n} lines, every class one of {names}; {hits} of {n} files predicted as the "
          f"class of their folder")


def torchvision(preds, fixture, tol):
    p = lines(preds)
    with open(fixture) as f:
        ref = json.load(f)["top"]
    ours = p[0]["top"]
    if [t["index"] for t in ours] != [t["index"] for t in ref]:
        fail(f"top-5 {[t['index'] for t in ours]} != torchvision's {[t['index'] for t in ref]}")
    worst = max(abs(a["prob"] - b["prob"]) for a, b in zip(ours, ref))
    if worst > tol:
        fail(f"probabilities differ by {worst:.3g} > {tol}")
    print(f"torchvision resnet18 top-5 {[t['index'] for t in ref]}: same classes and order, "
          f"max |prob - torchvision| = {worst:.2g} (tolerance {tol})")


def segment(preds, classes, n):
    p = lines(preds)
    if len(p) != n:
        fail(f"{len(p)} lines for {n} images")
    for l in p:
        fr = sum(c["fraction"] for c in l["classes"])
        if not close(fr, 1.0, 1e-5) or any(c["index"] >= classes for c in l["classes"]):
            fail(f"{l['file']}: class fractions {l['classes']}")
        for k in ("mask", "overlay"):
            if not os.path.getsize(l[k]):
                fail(f"{l[k]} is empty")
    print(f"segmentation: {n} lines, class fractions sum to 1, masks and overlays written")


def segment_eval(eval_json, classes):
    """Per-class IoU from the confusion matrix, their mean over present classes = mIoU."""
    with open(eval_json) as f:
        ev = json.load(f)
    cm, pc = ev["confusion"], ev["per_class"]
    if len(cm) != classes or len(pc) != classes:
        fail(f"{len(cm)} confusion rows, {len(pc)} classes; want {classes}")
    ious = []
    for c in range(classes):
        row, col, tp = sum(cm[c]), sum(r[c] for r in cm), cm[c][c]
        if row != pc[c]["support"] or col != pc[c]["predicted"]:
            fail(f"class {c}: support/predicted differ from the confusion matrix")
        if row + col == 0:
            if pc[c]["iou"] is not None:
                fail(f"class {c} absent but has IoU {pc[c]['iou']}")
            continue
        iou = tp / (row + col - tp)
        if not close(pc[c]["iou"], iou, 1e-8):
            fail(f"class {c}: IoU {pc[c]['iou']} != {iou}")
        ious.append(iou)
    if not close(sum(ious) / len(ious), ev["miou"], 1e-8):
        fail(f"mean of per-class IoU {sum(ious) / len(ious)} != miou {ev['miou']}")
    total = sum(map(sum, cm))
    if total != ev["n"] or not close(sum(cm[i][i] for i in range(classes)) / total,
                                     ev["pixel_acc"], 1e-8):
        fail("pixel count or pixel accuracy differ from the confusion matrix")
    print(f"segmentation eval: per-class IoU {[round(x, 4) for x in ious]} averages to "
          f"mIoU {ev['miou']:.6f}; {total} pixels")


def denoise(preds, n):
    p = lines(preds)
    if len(p) != n or any(not math.isfinite(l["psnr"]) or not math.isfinite(l["psnr_noisy"])
                          for l in p):
        fail(f"denoising lines: {p}")
    print("denoising: " + ", ".join(f"{l['psnr_noisy']:.2f} -> {l['psnr']:.2f} dB" for l in p))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "eval-vs-train":
        eval_vs_train(args[0], args[1], int(args[2]))
    elif cmd == "predict-vs-eval":
        predict_vs_eval(args[0], args[1], int(args[2]))
    elif cmd == "classes":
        classes(args[0], args[1], int(args[2]))
    elif cmd == "torchvision":
        torchvision(args[0], args[1], float(args[2]))
    elif cmd == "segment":
        segment(args[0], int(args[1]), int(args[2]))
    elif cmd == "segment-eval":
        segment_eval(args[0], int(args[1]))
    elif cmd == "denoise":
        denoise(args[0], int(args[1]))
    else:
        fail("unknown check " + cmd)
