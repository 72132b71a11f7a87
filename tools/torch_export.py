#!/usr/bin/python3
"""PyTorch weights to a cnn-dist weights file (HDF5, the layout ckpt_load reads).

    python3 tools/torch_export.py resnet18 resnet18.h5                 # torchvision, random init
    python3 tools/torch_export.py resnet18 r18.h5 --weights IMAGENET1K_V1  # torchvision weights
    python3 tools/torch_export.py model.pth out.h5                     # any saved state_dict

Layout: one dataset per state_dict entry at the root, named by its key ("layer1.0.bn1.weight"),
float tensors as float32 with the tensor's shape, integer ones (num_batches_tracked) as int64;
no metadata attributes, so ckpt_load treats the file as weights only (epoch and step 0).
A model config with the same architecture and layer names loads it (ckpt_load).
"""
import argparse
import os

import h5py
import numpy as np
import torch


def write_state_dict(state_dict, path):
    """Writes state_dict (name -> tensor) to path in the layout above, atomically."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with h5py.File(tmp, "w") as f:
        for key, t in state_dict.items():
            if "/" in key:
                raise SystemExit(f"key '{key}' contains '/', which HDF5 reads as a group")
            a = t.detach().cpu().numpy()
            a = a.astype(np.float32) if t.is_floating_point() else a.astype(np.int64)
            f.create_dataset(key, data=a)
    os.replace(tmp, path)


def load_pth(path):
    """A state_dict saved with torch.save, also inside {'state_dict': ...} or {'model': ...}
    and with DataParallel's 'module.' prefix."""
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="torchvision architecture (resnet18, vgg16_bn, ...) or a .pth")
    ap.add_argument("out", help="HDF5 file to write")
    ap.add_argument("--weights", help="torchvision weights name (IMAGENET1K_V1); default: random")
    ap.add_argument("--num-classes", type=int, default=1000, help="for random init (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="torch seed of the random init")
    args = ap.parse_args()
    if args.source.endswith((".pth", ".pt")):
        sd = load_pth(args.source)
    else:
        import torchvision
        torch.manual_seed(args.seed)
        if args.weights:
            m = torchvision.models.get_model(args.source, weights=args.weights)
        else:
            m = getattr(torchvision.models, args.source)(num_classes=args.num_classes)
        sd = m.state_dict()
    write_state_dict(sd, args.out)
    n = sum(t.numel() for t in sd.values() if t.is_floating_point())
    print(f"{args.out}: {len(sd)} tensors, {n:,} float values")


if __name__ == "__main__":
    main()
