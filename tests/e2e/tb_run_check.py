#!/usr/bin/python3
"""A training run's TensorBoard event file read by protobuf itself (Debian's protoc and
python3-protobuf, with tests/fixtures/tensorboard/tb_event.proto), against the run's
metrics.jsonl: every record's masked CRC32Cs check (CRC computed here), the first record is
the file version, and every scalar of metrics.jsonl is in the file under "train/<key>" or
"<split>/<key>" at the same step with the same value (to float32 precision); the pictures of every
evaluation ("filters", "samples") are PNGs of the size they claim.

Usage: tb_run_check.py PROTOC TB_EVENT_PROTO RUN_DIR WORKDIR
Exit 77 (skipped) when protoc or google.protobuf is missing.
"""
import glob
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit"))
import tfevents_check as tc  # noqa: E402  (CRC32C, record framing, skip/fail)

TRAIN_KEYS = ("loss", "lr", "img_per_s", "data_wait_s", "comm_exposed_s")
EVAL_KEYS = ("loss", "top1", "top5", "pixel_acc", "miou", "psnr", "psnr_input")


def same(tb, value):
    """tb (float32) is value as float32: within one float32 step of it (metrics.jsonl prints
    the double with 9 digits, which can fall on the midpoint between two float32s)."""
    return abs(tb - value) <= abs(value) * 2.0 ** -23 + 1e-45


def main():
    protoc_arg, proto, run, work = sys.argv[1:]
    pb = tc.compile_proto(protoc_arg, proto, work)

    files = glob.glob(os.path.join(run, "events.out.tfevents.*"))
    if len(files) != 1:
        tc.fail("%s holds %d event files, want 1" % (run, len(files)))
    with open(files[0], "rb") as f:
        blob = f.read()
    scalars, images, first = {}, {}, None
    for at, data in tc.records(blob):
        ev = pb.Event()
        ev.ParseFromString(data)
        if first is None:
            first = ev.file_version
            continue
        for v in ev.summary.value:
            if v.WhichOneof("value") == "simple_value":
                scalars[(v.tag, ev.step)] = v.simple_value
            else:
                images.setdefault(v.tag, []).append((ev.step, v.image))
    if first != "brain.Event:2":
        tc.fail("first record's file_version is %r" % first)

    checked = 0
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            split = m.get("split", "train")
            for k in TRAIN_KEYS if split == "train" else EVAL_KEYS:
                if k not in m or m[k] is None:
                    continue
                tag = "%s/%s" % (split, k)
                got = scalars.get((tag, m["step"]))
                if got is None or not same(got, m[k]):
                    tc.fail("%s at step %d: event file %s, metrics.jsonl %r"
                            % (tag, m["step"], got, m[k]))
                checked += 1
    for tag in ("filters", "samples"):
        if not images.get(tag):
            tc.fail("no %s image in the event file" % tag)
        for step, im in images[tag]:
            png = im.encoded_image_string
            w, h = struct.unpack(">II", png[16:24])
            if png[:8] != b"\x89PNG\r\n\x1a\n" or (w, h) != (im.width, im.height):
                tc.fail("%s at step %d: not a %dx%d PNG" % (tag, step, im.width, im.height))
    print("%s: %d records, CRCs good; %d scalars equal metrics.jsonl's; images %s"
          % (os.path.basename(files[0]), len(scalars) + sum(map(len, images.values())) + 1,
             checked, {t: len(v) for t, v in images.items()}))


if __name__ == "__main__":
    main()
