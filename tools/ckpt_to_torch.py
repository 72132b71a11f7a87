#!/usr/bin/python3
"""Loads a cnn-dist checkpoint into torchvision (strict) and prints OK:
    python3 tools/ckpt_to_torch.py runs/resnet18/ckpt-000045000.h5 resnet18 [num_classes]"""
import sys

if len(sys.argv) not in (3, 4):
    sys.exit("usage: " + __doc__.strip().splitlines()[-1].strip())

import h5py  # noqa: E402 (after the usage check: torch takes seconds to import)
import torch  # noqa: E402
import torchvision  # noqa: E402

path, arch = sys.argv[1], sys.argv[2]
num_classes = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
with h5py.File(path, "r") as f:  # root datasets are the state_dict; groups hold optimizer state
    sd = {k: torch.as_tensor(f[k][()]) for k in f if isinstance(f[k], h5py.Dataset)}
model = getattr(torchvision.models, arch)(num_classes=num_classes)
model.load_state_dict(sd, strict=True)
print(f"OK: {path} loads into torchvision {arch} ({len(sd)} tensors, strict)")
