"""Data for bench/torch_learn.py: a cnn-dist dataset (docs/data.md; DESIGN.md "Data format")
read whole into memory with h5py, and our augmentation (src/data/augment.c) redone with torch
ops on uint8 tensors, one sample at a time in the main process. Same geometry, same random
distributions, not the same draws (ours key every draw by sample; here one torch.Generator).

- master .h5: attributes task, mode, raw_h/w/c, mean, std; datasets classes, shard_files
  (relative to the master's folder). Shard: uint8 `blob`, `offset`/`length` per sample
  (raw HWC pixels or an encoded PNG/JPEG), `label`, and for segmentation `mask_offset`/
  `mask_length` (raw: H*W class ids; encoded: PNG of ids, 255 = ignore).
- channels as src/data/augment.c's to_planar: gray data repeated for an RGB model, RGB data
  reduced to float32 luma (0.2989, 0.587, 0.114), truncated, for a gray model.
- train geometry: resized_crop = RandomResizedCrop (ours: 10 tries, rint sizes, centred
  fallback) + antialiased bilinear to the input size; scale_crop = shorter side to
  randint(int(lo*B), int(hi*B)), pad right/bottom (image 0, mask 255), random crop. Masks
  nearest. Then colour jitter (random order, factors U[max(0, 1-x), 1+x]), flip p = 0.5.
- eval geometry: shorter side to data.eval_resize (0: the input's longer side), centre crop
  with padding (F.center_crop's offsets).
- then ToTensor + Normalize; denoising adds N(0, noise_std^2) to the normalised input and
  the target is the normalised clean image.
"""
import io
import math
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

MASK_IGNORE = 255
LUMA = (0.2989, 0.587, 0.114)


def _strs(ds):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


def read_info(path):
    """The master's attributes and lists, and the shard paths."""
    with h5py.File(path, "r") as m:
        a = m.attrs
        if a.get("format") not in ("cnn-dist dataset", b"cnn-dist dataset"):
            raise ValueError(f"{path} is not a cnn-dist dataset master file")
        s = lambda k: a[k].decode() if isinstance(a[k], bytes) else str(a[k])  # noqa: E731
        info = {"task": s("task"), "mode": s("mode"), "n": int(a["num_samples"]),
                "raw": (int(a["raw_h"]), int(a["raw_w"]), int(a["raw_c"])),
                "mean": [float(v) for v in np.ravel(a["mean"])],
                "std": [float(v) for v in np.ravel(a["std"])],
                "classes": _strs(m["classes"]) if "classes" in m else []}
        folder = os.path.dirname(os.path.abspath(path))
        info["shards"] = [os.path.join(folder, f) for f in _strs(m["shard_files"])]
    return info


def to_channels(hwc, C):
    """(h, w, c) uint8 numpy -> (C, h, w) uint8 tensor, as augment.c's to_planar."""
    c = hwc.shape[2]
    if c == C:
        return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))
    if c == 1:
        return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1))).repeat(C, 1, 1)
    f = hwc.astype(np.float32)
    gray = (np.float32(LUMA[0]) * f[..., 0] + np.float32(LUMA[1]) * f[..., 1] +
            np.float32(LUMA[2]) * f[..., 2])
    return torch.from_numpy(gray.astype(np.uint8)[None])


def decode(buf, is_mask):
    from PIL import Image, ImageOps
    im = Image.open(io.BytesIO(buf.tobytes()))
    if is_mask:
        return np.asarray(im)[..., None]  # palette or gray PNG: the ids themselves
    im = ImageOps.exif_transpose(im)
    im = im.convert("L" if im.mode in ("L", "I;16", "I", "1") else "RGB")
    a = np.asarray(im)
    return a[..., None] if a.ndim == 2 else a


class Split:
    """A whole split in memory. images: (N, C, H, W) uint8 tensor when every image has one
    size, else a list of (C, h, w); masks likewise (N, H, W) or a list; labels (N,) int64."""

    def __init__(self, path, channels, limit=0):
        self.info = info = read_info(path)
        n_want = min(info["n"], limit) if limit and limit > 0 else info["n"]
        imgs, masks, labels = [], [], []
        seg = info["task"] == "segment"
        for sp in info["shards"]:
            if len(imgs) >= n_want:
                break
            with h5py.File(sp, "r") as f:
                k = min(n_want - len(imgs), int(f["offset"].shape[0]))
                blob = f["blob"][()]
                off, ln = f["offset"][:k], f["length"][:k]
                labels += [int(v) for v in f["label"][:k]]
                hs, ws = f["height"][:k], f["width"][:k]
                moff = f["mask_offset"][:k] if seg else None
                mlen = f["mask_length"][:k] if seg else None
            for i in range(k):
                b = blob[off[i]:off[i] + ln[i]]
                if info["mode"] == "raw":
                    img = b.reshape(info["raw"])
                else:
                    img = decode(b, False)
                imgs.append(to_channels(img, channels))
                if seg:
                    mb = blob[moff[i]:moff[i] + mlen[i]]
                    mk = (mb.reshape(int(hs[i]), int(ws[i]), 1) if info["mode"] == "raw"
                          else decode(mb, True))
                    masks.append(torch.from_numpy(np.ascontiguousarray(mk[..., 0])))
        self.n = len(imgs)
        same = len({tuple(t.shape) for t in imgs}) == 1
        self.images = torch.stack(imgs) if same else imgs
        self.masks = (torch.stack(masks) if same else masks) if seg else None
        self.labels = torch.tensor(labels, dtype=torch.int64)


def shorter_side_to(h, w, size):
    """Resize(int): shorter side to size, the other int(size * long / short) in double."""
    if w <= h:
        return int(size * h / w), size
    return size, int(size * w / h)


def center_offset(length, crop):
    """F.center_crop's offset; negative when the crop is larger (padding)."""
    return -((crop - length) // 2) if crop > length else int(round((length - crop) / 2.0))


def resize_image(img, rh, rw):
    """(C, h, w) uint8 -> (C, rh, rw) uint8: antialiased bilinear, rounded half to even."""
    if img.shape[1] == rh and img.shape[2] == rw:
        return img
    y = F.interpolate(img[None].float(), size=(rh, rw), mode="bilinear", align_corners=False,
                      antialias=True)[0]
    return y.round_().clamp_(0, 255).to(torch.uint8)


def resize_mask(m, rh, rw):
    if m.shape[0] == rh and m.shape[1] == rw:
        return m
    return F.interpolate(m[None, None].float(), size=(rh, rw), mode="nearest")[0, 0].to(
        torch.uint8)


def window(x, top, left, h, w, fill):
    """Window (h, w) of x (..., H, W) at (top, left), filled with `fill` outside x."""
    H, W = x.shape[-2:]
    out = torch.full(x.shape[:-2] + (h, w), fill, dtype=x.dtype)
    y0, y1 = max(top, 0), min(top + h, H)
    x0, x1 = max(left, 0), min(left + w, W)
    if y1 > y0 and x1 > x0:
        out[..., y0 - top:y1 - top, x0 - left:x1 - left] = x[..., y0:y1, x0:x1]
    return out


class Augment:
    """Our augment_cfg: built from the resolved config's data section."""

    def __init__(self, data_cfg, in_shape, mean, std, task, gen):
        self.C, self.H, self.W = (int(v) for v in in_shape)
        self.d = data_cfg
        self.task = task
        self.g = gen
        self.mean = torch.tensor(mean[:self.C], dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std[:self.C], dtype=torch.float32).view(-1, 1, 1)
        self.noise = float(data_cfg.get("noise_std", 0)) if task == "denoise" else 0.0
        mode = data_cfg.get("train_crop", "auto")  # absent before main's scale jitter
        if mode not in ("auto", "resized_crop", "scale_crop"):
            raise ValueError(f"data.train_crop={mode!r} is not auto|resized_crop|scale_crop")
        self.scale_crop = mode == "scale_crop" or (mode == "auto" and task != "classify")
        base = int(data_cfg.get("eval_resize", 0)) or max(self.H, self.W)
        lo, hi = data_cfg.get("scale_range", [0.5, 2.0])
        self.smin = max(1, int(lo * base))
        self.smax = max(self.smin, int(hi * base))

    def _u(self):
        return float(torch.rand((), generator=self.g))

    def _below(self, n):
        return min(int(self._u() * n), n - 1)

    def crop_box(self, H, W):
        """RandomResizedCrop.get_params as augment.c's crop_params."""
        sc, ra = self.d["crop_scale"], self.d["crop_ratio"]
        area, lr0, lr1 = H * W, math.log(ra[0]), math.log(ra[1])
        for _ in range(10):
            target = area * (sc[0] + (sc[1] - sc[0]) * self._u())
            ar = math.exp(lr0 + (lr1 - lr0) * self._u())
            w, h = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
            if 0 < w <= W and 0 < h <= H:
                return self._below(H - h + 1), self._below(W - w + 1), h, w
        in_ratio, w, h = W / H, W, H
        if in_ratio < min(ra):
            h = int(round(W / min(ra)))
        elif in_ratio > max(ra):
            w = int(round(H * max(ra)))
        h, w = min(max(h, 1), H), min(max(w, 1), W)
        return (H - h) // 2, (W - w) // 2, h, w

    def train_geometry(self, img, mask):
        h, w = img.shape[1:]
        if self.scale_crop:
            s = self.smin + self._below(self.smax - self.smin + 1)
            rh, rw = shorter_side_to(h, w, s)
            p = int(self.d.get("crop_padding", 0))  # RandomCrop(padding=p): every side
            top = self._below(max(rh + 2 * p, self.H) - self.H + 1) - p
            left = self._below(max(rw + 2 * p, self.W) - self.W + 1) - p
            img = window(resize_image(img, rh, rw), top, left, self.H, self.W, 0)
            if mask is not None:
                mask = window(resize_mask(mask, rh, rw), top, left, self.H, self.W, MASK_IGNORE)
            return img, mask
        t, l, ch, cw = self.crop_box(h, w)
        img = resize_image(img[:, t:t + ch, l:l + cw], self.H, self.W)
        if mask is not None:
            mask = resize_mask(mask[t:t + ch, l:l + cw], self.H, self.W)
        return img, mask

    def eval_geometry(self, img, mask):
        h, w = img.shape[1:]
        rh, rw = shorter_side_to(h, w, int(self.d.get("eval_resize", 0)) or max(self.H, self.W))
        top, left = center_offset(rh, self.H), center_offset(rw, self.W)
        img = window(resize_image(img, rh, rw), top, left, self.H, self.W, 0)
        if mask is not None:
            mask = window(resize_mask(mask, rh, rw), top, left, self.H, self.W, MASK_IGNORE)
        return img, mask

    def jitter(self, img):
        amount = (float(self.d.get("brightness", 0)), float(self.d.get("contrast", 0)),
                  float(self.d.get("saturation", 0)))
        if not any(a > 0 for a in amount):
            return img
        ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
        for k in torch.randperm(3, generator=self.g).tolist():
            x = amount[k]
            if x > 0 and not (k == 2 and self.C != 3):
                lo = 1.0 - x if x < 1.0 else 0.0
                img = ops[k](img, lo + (1.0 + x - lo) * self._u())
        return img

    def normalize(self, u8):
        return (u8.float() / 255.0 - self.mean) / self.std

    def batch(self, split, idx, train, noise_gen=None):
        """(input, target) of the samples idx: target = class labels (N,), masks (N, H, W)
        with 255 as 255 (the caller maps it to the loss's ignore index), or clean images.
        noise_gen: the denoising noise's generator (evaluation passes a freshly seeded one,
        so that every evaluation sees the same noisy inputs, as ours does)."""
        imgs, masks = [], []
        for i in idx:
            img = split.images[i]
            mask = split.masks[i] if self.task == "segment" else None
            if train:
                img, mask = self.train_geometry(img, mask)
                img = self.jitter(img)
            else:
                img, mask = self.eval_geometry(img, mask)
            imgs.append(img)
            masks.append(mask)
        x = torch.stack(imgs)
        m = torch.stack(masks) if self.task == "segment" else None
        if train and self.d.get("hflip", True):
            flip = torch.rand(len(idx), generator=self.g) < 0.5
            x[flip] = x[flip].flip(-1)
            if m is not None:
                m[flip] = m[flip].flip(-1)
        x = self.normalize(x)
        if self.task == "classify":
            return x, split.labels[torch.as_tensor(idx)]
        if self.task == "segment":
            return x, m.long()
        noise = torch.randn(x.shape, generator=noise_gen or self.g)
        return x + self.noise * noise, x
