#!/usr/bin/env python3
"""Writes the seed inputs of the structure-aware targets (fuzz_dataset.c, fuzz_ckpt.c) into
tests/fuzz/corpus-dataset and corpus-ckpt: valid recipes first (every reader path that
succeeds), then one of each kind of edit. Sample bytes come from tests/fixtures/images.
Run from anywhere: python3 tests/fuzz/make_seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, '..', 'fixtures', 'images')


def fixture(name, n):
    b = open(os.path.join(IMAGES, name), 'rb').read()
    return (b * (n // len(b) + 1))[:n]


def num(v):
    """fb_int: selector byte (width 8 bytes, sign bit 8) then the value."""
    if 0 <= v < 16:
        return bytes([v << 4])
    return bytes([6 | (8 if v < 0 else 0)]) + struct.pack('<q', abs(v))


def dataset(flags, raw_h, raw_w, raw_c, classes, shards, edits=()):
    """shards: list of lists of encoded lengths (raw mode: only the count matters)."""
    raw, seg = flags & 1, flags & 2
    out = bytes([flags, raw_h - 1, raw_w - 1, raw_c == 3, classes])
    blobs = b''
    for lens in shards:
        out += bytes([len(lens)])
        size = 0
        for i, L in enumerate(lens):
            if not raw:
                out += bytes([L - 1])
            img = raw_h * raw_w * raw_c if raw else L
            h, w = (raw_h, raw_w) if raw else (1 + i % 5, 2 + i % 3)
            size += img + ((h * w if raw else 3) if seg else 0)
        blobs += fixture('one.png' if flags & 4 else 'one.jpg', size)
        out += blobs[-size:] if size else b''
    for code, f, item, v, w in edits:
        out += bytes([code, f, item]) + num(v) + num(w)
    return out


def write(folder, name, data):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    open(os.path.join(HERE, folder, name), 'wb').write(data)


def dataset_seeds():
    c = 'corpus-dataset'
    write(c, 'seed-encoded-classify', dataset(0x00, 1, 1, 1, 3, [[20, 31, 5]]))
    write(c, 'seed-raw-classify-2shards', dataset(0x05, 4, 3, 3, 2, [[0, 0], [0, 0, 0]]))
    write(c, 'seed-encoded-segment-verify', dataset(0x12, 1, 1, 1, 0, [[9, 12]]))
    write(c, 'seed-raw-segment-3shards', dataset(0x2b, 2, 5, 1, 0, [[0], [], [0, 0]]))
    base = (0x04, 2, 2, 1, 4, [[10, 11, 12], [13]])
    for i, (code, v, w) in enumerate([(0, 500, 0), (1, -3, 0), (2, 9, 0), (3, 0, 0),
                                      (7, 1, 0), (8, 1, 0), (10, 3, 0), (11, 0, 0),
                                      (12, 1 << 40, 0), (13, 1 << 20, 0), (13, 7, 7)]):
        write(c, 'seed-edit-%02d' % i, dataset(*base[:5], base[5], [(code, i % 3, i, v, w)]))


def ckpt(flags, edits=()):
    """edits: (code, name index, value, kind); fuzz_ckpt.c's names: 3 per state entry (the
    key, checksums/key, optimizer/momentum/key), then bn1.num_batches_tracked, then the
    groups and stray names."""
    out = bytes([flags])
    for code, item, v, kind in edits:
        out += bytes([code, item]) + num(v) + bytes([kind])
    return out


def ckpt_seeds():
    c = 'corpus-ckpt'
    write(c, 'seed-valid', ckpt(0))
    write(c, 'seed-valid-nonstrict', ckpt(1))
    cases = [('delete-weight', 0, 0, 0, 0), ('delete-checksum', 0, 1, 0, 0),
             ('delete-momentum', 0, 2, 0, 0), ('attr-format', 1, 0, 0 << 4, 5),
             ('attr-version', 1, 0, (7 << 4) | 1, 0), ('attr-rng-key', 1, 0, 7, 4),
             ('attr-config-long', 1, 0, (200 << 4) | 8, 6),
             ('dataset-weight-f64', 2, 0, 108, 5), ('crash-checksum-not-scalar', 2, 1, 3, 2),
             ('dataset-huge-unwritten', 2, 3, 1 << 36, 0), ('dataset-stray', 2, 43, 4, 4),
             ('flip-weight', 3, 0, 5, 0), ('flip-checksum', 3, 1, 0, 0),
             ('move-weight-to-bias', 4, 0, 3, 0), ('move-to-group', 4, 6, 44, 0)]
    for name, code, item, v, kind in cases:
        prefix = '' if name.startswith('crash-') else 'seed-'
        write(c, prefix + name, ckpt(0, [(code, item, v, kind)]))


if __name__ == '__main__':
    dataset_seeds()
    ckpt_seeds()
