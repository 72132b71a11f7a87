#!/usr/bin/python3
"""cnn-dist's TensorBoard event files read by protobuf itself, not by our own reader.

Usage: tfevents_check.py PROTOC TB_EVENT_PROTO WRITER WORKDIR

Compiles TB_EVENT_PROTO (our subset of TensorBoard's Event and Summary, same field numbers)
with PROTOC into WORKDIR, runs `WRITER --write WORKDIR/run` (test_tfevents, which prints the
event file's path), then checks every TFRecord's masked CRC32Cs with a CRC computed here,
parses every record with python3-protobuf and compares it with the events test_tfevents.c
writes (the same list, kept by hand below). Each record must also equal protobuf's own
serialization of what it parsed: our encoder writes the canonical encoding.
Exit 77 (skipped) with a one-line reason when protoc or google.protobuf is missing.
"""
import importlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys

SKIP = 77


def skip(reason):
    print("skipped: " + reason)
    sys.exit(SKIP)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# CRC-32C, reflected Castagnoli polynomial, one table lookup a byte (computed here, not ours).
CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    CRC_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def f32(x):
    """x as the float32 bits the writer stores (NaN's included)."""
    return struct.pack("<f", x)


def fake_png(n, seed):
    sig = b"\x89PNG\r\n\x1a\n"
    return bytes(sig[i] if i < 8 else (i * 31 + seed) & 0xFF for i in range(n))


LONG_TAG = "long/" + "".join(chr(ord("a") + i % 26) for i in range(5, 300))

# (tag, step, wall_time, value) for scalars; (tag, step, wall_time, (png bytes, height,
# width, channels)) for images. Image seeds are the events' indices, as in test_tfevents.c.
EXPECTED = [
    ("loss/train", 0, 1700000000.5, 0.25),
    ("loss/train", 1, 1700000001.25, -3.5),
    ("acc/val", 2, 1700000002.0, float("nan")),
    ("big", 1000000000000, 1700000003.0, 1e30),
    (LONG_TAG, -1, 0.0, 0.0),
    ("utf8/\u03bb", 5, 1700000005.75, 1.0),
    ("images/gray", 3, 1700000006.0, (fake_png(300, 6), 10, 30, 1)),
    ("images/rgba", 4, 1700000007.0, (fake_png(70000, 7), 150, 100, 4)),
]


def records(blob):
    at = 0
    while at < len(blob):
        if len(blob) - at < 16:
            fail("%d bytes left at offset %d: a truncated record" % (len(blob) - at, at))
        head = blob[at:at + 8]
        (n,) = struct.unpack("<Q", head)
        (crc_len,) = struct.unpack("<I", blob[at + 8:at + 12])
        if crc_len != masked_crc(head):
            fail("record at offset %d: length CRC %08x, want %08x"
                 % (at, crc_len, masked_crc(head)))
        if n > len(blob) - at - 16:
            fail("record at offset %d: length %d runs past the end" % (at, n))
        data = blob[at + 12:at + 12 + n]
        (crc_data,) = struct.unpack("<I", blob[at + 12 + n:at + 16 + n])
        if crc_data != masked_crc(data):
            fail("record at offset %d: data CRC %08x, want %08x" % (at, crc_data, masked_crc(data)))
        yield at, data
        at += 16 + n


def one_line(msg):
    return " ".join(str(msg).split())


def unknown_count(msg):
    try:
        from google.protobuf import unknown_fields  # protobuf >= 4.24

        n = len(unknown_fields.UnknownFieldSet(msg))
    except ImportError:
        n = len(msg.UnknownFields())
    for field, value in msg.ListFields():
        if field.message_type is not None:
            subs = value if field.label == field.LABEL_REPEATED else [value]
            n += sum(unknown_count(s) for s in subs)
    return n


def check_event(i, ev):
    tag, step, wall_time, want = EXPECTED[i]
    where = "event %d (%s)" % (i, tag[:20])
    if ev.WhichOneof("what") != "summary" or len(ev.summary.value) != 1:
        fail("%s: not a summary with one value: %s" % (where, one_line(ev)))
    v = ev.summary.value[0]
    if v.tag != tag or ev.step != step or ev.wall_time != wall_time:
        fail("%s: tag %r step %d wall_time %r, want %r %d %r"
             % (where, v.tag[:40], ev.step, ev.wall_time, tag[:40], step, wall_time))
    if isinstance(want, tuple):
        png, height, width, channels = want
        im = v.image
        if v.WhichOneof("value") != "image":
            fail("%s: %s instead of an image" % (where, v.WhichOneof("value")))
        if (im.height, im.width, im.colorspace) != (height, width, channels):
            fail("%s: image %dx%d colorspace %d, want %dx%d colorspace %d"
                 % (where, im.height, im.width, im.colorspace, height, width, channels))
        if im.encoded_image_string != png:
            fail("%s: %d PNG bytes differ from the %d written"
                 % (where, len(im.encoded_image_string), len(png)))
    else:
        if v.WhichOneof("value") != "simple_value" or f32(v.simple_value) != f32(want):
            fail("%s: value %r (%s), want %r"
                 % (where, v.simple_value, v.WhichOneof("value"), want))
    print("  %s: step %d, %s" % (where, step, "image" if isinstance(want, tuple) else want))


def compile_proto(protoc_arg, proto, work):
    """proto compiled by protoc into a fresh work folder and imported; exits 77 (skipped)
    when protoc or google.protobuf is missing."""
    protoc = shutil.which(protoc_arg)
    if not protoc:
        skip("protoc (%s) not found; apt-get install protobuf-compiler" % protoc_arg)
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        skip("google.protobuf not importable by %s; apt-get install python3-protobuf"
             % sys.executable)

    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    subprocess.run([protoc, "--proto_path=" + os.path.dirname(os.path.abspath(proto)),
                    "--python_out=" + work, os.path.abspath(proto)], check=True)
    sys.path.insert(0, work)
    return importlib.import_module(os.path.splitext(os.path.basename(proto))[0] + "_pb2")


def main():
    if len(sys.argv) != 5:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    protoc_arg, proto, writer, work = sys.argv[1:]
    pb = compile_proto(protoc_arg, proto, work)

    run_dir = os.path.join(work, "run")
    out = subprocess.run([writer, "--write", run_dir], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    path = out.strip().splitlines()[-1]
    files = os.listdir(run_dir)
    if files != [os.path.basename(path)]:
        fail("%s holds %s, want only the writer's %s" % (run_dir, files, path))
    # PyTorch's SummaryWriter's name: events.out.tfevents.<unix seconds>.<hostname>
    pattern = r"events\.out\.tfevents\.\d{10}\." + re.escape(socket.gethostname()) + "$"
    if not re.match(pattern, files[0]):
        fail("file name %s does not match %s" % (files[0], pattern))

    with open(path, "rb") as f:
        blob = f.read()
    n = 0
    for at, data in records(blob):
        ev = pb.Event.FromString(data)
        if unknown_count(ev):
            fail("record at offset %d has fields the proto does not know: %s" % (at, data[:64]))
        if ev.SerializeToString(deterministic=True) != data:
            fail("record at offset %d is not protobuf's canonical encoding of %s"
                 % (at, one_line(ev)))
        if n == 0:
            if ev.WhichOneof("what") != "file_version" or ev.file_version != "brain.Event:2":
                fail("first record is not the file_version event: %s" % one_line(ev))
            if not 1.6e9 < ev.wall_time < 4e9 or ev.step != 0:
                fail("file_version event: wall_time %r step %d" % (ev.wall_time, ev.step))
        elif n - 1 < len(EXPECTED):
            check_event(n - 1, ev)
        n += 1
    if n != len(EXPECTED) + 1:
        fail("%d records, want %d" % (n, len(EXPECTED) + 1))
    print("tfevents_check: %d records of %s parsed by protobuf %s: all as written"
          % (n, path, sys.modules["google.protobuf"].__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
