"""The networks of bench/torch_learn.py, written in PyTorch to match configs/<name>.yaml layer
for layer (same layers, order, kernel sizes, biases, parameter count), so that the learning
comparison of issue #17 trains the same model on both sides. Sizes come from the resolved
config's model.args (width, num_classes, channels) and model.input; the structure is the
YAML's, written out here by hand so that a fault in our graph builder cannot hide in both;
module names follow ours, so state_dict keys equal our checkpoints' (load_ours).

Initialisation is PyTorch's default, which is also ours: conv2d, conv_transpose2d and
linear draw weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (src/layers/
conv_params.c; PyTorch's kaiming_uniform_(a=sqrt(5)) gives the same bound), batch norm
starts at weight 1, bias 0, running mean 0, var 1, momentum 0.1, eps 1e-5.

vgg and alexnet are plain chains: they are built from the config's own layer list (`seq`),
which follows `$width*2` style arguments once those configs gain a width.
"""
import re
import warnings
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_models import Basic  # the ResNet basic block, option B (bench/torch_models.py)


def cbr(cin, cout, dil=1, bias=True):
    """conv 3x3 (pad = dilation keeps the size) + batch norm + relu."""
    return [nn.Conv2d(cin, cout, 3, padding=dil, dilation=dil, bias=bias), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


def cbr_chain(cin, plan):
    """plan: [(out, repeat, dilation)]; returns (layers, channels out)."""
    layers = []
    for out, n, dil in plan:
        for _ in range(n):
            layers += cbr(cin, out, dil)
            cin = out
    return layers, cin


class FCN(nn.Module):
    """configs/fcn.yaml: VGG-16-BN stages 1-3 (stride 8), 3 + 3 context cbr at dilation 2 and
    4, dropout 0.1, 1x1 classifier, bilinear x8 (align_corners=False)."""

    def __init__(self, cin, width, classes):
        super().__init__()
        w = width
        feats = []
        for out, n in ((w, 2), (2 * w, 2), (4 * w, 3)):
            layers, cin = cbr_chain(cin, [(out, n, 1)])
            feats += layers + [nn.MaxPool2d(2)]
        self.features = nn.Sequential(*feats)
        ctx, cin = cbr_chain(cin, [(8 * w, 3, 2), (8 * w, 3, 4)])
        self.context = nn.Sequential(*ctx)
        self.classifier = nn.Sequential(nn.Dropout(0.1), nn.Conv2d(cin, classes, 1))

    def forward(self, x):
        y = self.classifier(self.context(self.features(x)))
        return F.interpolate(y, scale_factor=8, mode="bilinear", align_corners=False)


def double(cin, cout):
    """U-Net's (conv 3x3 without bias, batch norm, relu) x 2."""
    return nn.Sequential(*cbr(cin, cout, bias=False), *cbr(cout, cout, bias=False))


class Up(nn.Module):
    """2x2 stride-2 transposed conv, concat [skip, up], double conv."""

    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv = double(2 * cout, cout)

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.up(x)], 1))


class UNet(nn.Module):
    """configs/unet.yaml (levels 4) and configs/unet_denoise.yaml (levels 2, residual: the
    1x1 output conv predicts clean - noisy and the input is added back)."""

    def __init__(self, cin, width, out, levels, residual):
        super().__init__()
        self.levels, self.residual = levels, residual
        self.inc = double(cin, width)
        for i in range(1, levels + 1):  # down<i>.0 pool, down<i>.conv
            setattr(self, f"down{i}", nn.Sequential(OrderedDict(
                [("0", nn.MaxPool2d(2)), ("conv", double(width << (i - 1), width << i))])))
        for i in range(1, levels + 1):
            setattr(self, f"up{i}", Up(width << (levels - i + 1), width << (levels - i)))
        self.outc = nn.Conv2d(width, out, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for i in range(1, self.levels + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        y = skips.pop()
        for i in range(1, self.levels + 1):
            y = getattr(self, f"up{i}")(y, skips.pop())
        y = self.outc(y)
        return x + y if self.residual else y


class SegNet(nn.Module):
    """configs/segnet.yaml: VGG-16-BN encoder whose pools keep their argmax; the decoder
    unpools with them (output size = the pool's input size) and convolves. Flat `features`
    and `decoder` as ours, so state_dict keys are the same."""

    ENC = ((1, 2), (2, 2), (4, 3), (8, 3), (8, 3))  # (width multiple, convs) per stage
    DEC = (((8, 3),), ((8, 2), (4, 1)), ((4, 2), (2, 1)), ((2, 1), (1, 1)), ((1, 1),))

    def __init__(self, cin, width, classes):
        super().__init__()
        enc, dec = [], []
        for m, n in self.ENC:
            layers, cin = cbr_chain(cin, [(m * width, n, 1)])
            enc += layers + [nn.MaxPool2d(2, return_indices=True)]
        for stage in self.DEC:
            layers, cin = cbr_chain(cin, [(m * width, n, 1) for m, n in stage])
            dec += [nn.MaxUnpool2d(2)] + layers
        self.features = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec, nn.Conv2d(cin, classes, 3, padding=1))

    def forward(self, x):
        saved = []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                size = x.shape[-2:]
                x, idx = layer(x)
                saved.append((idx, size))
            else:
                x = layer(x)
        for layer in self.decoder:
            if isinstance(layer, nn.MaxUnpool2d):
                idx, size = saved.pop()
                x = layer(x, idx, output_size=size)
            else:
                x = layer(x)
        return x


def resnet20(cin, classes, w=16):
    """configs/resnet20_cifar.yaml: 3x3 stem of w, 3 x 3 basic blocks (w, 2w, 4w)."""
    parts = [("conv1", nn.Conv2d(cin, w, 3, 1, 1, bias=False)), ("bn1", nn.BatchNorm2d(w)),
             ("relu", nn.ReLU())]
    c = w
    for k, (width, stride) in enumerate(((w, 1), (2 * w, 2), (4 * w, 2))):
        blocks = []
        for j in range(3):
            blocks.append(Basic(c, width, stride if j == 0 else 1))
            c = width
        parts.append((f"layer{k + 1}", nn.Sequential(*blocks)))
    parts += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
              ("fc", nn.Linear(4 * w, classes))]
    return nn.Sequential(OrderedDict(parts))


# --- plain chains (vgg, alexnet) from the config's layer list ---------------------------

class SeqError(ValueError):
    pass


def subst(v, scope):
    """docs/models.md: `$name` is the value; `$name*K`, `$name/K` scale an integer."""
    if not isinstance(v, str) or not v.startswith("$"):
        return v
    m = re.fullmatch(r"\$([A-Za-z_]\w*)(?:([*/])(\d+))?", v)
    if not m or m.group(1) not in scope:
        raise SeqError(f"cannot resolve {v!r} (known: {sorted(scope)})")
    x = scope[m.group(1)]
    if m.group(2) == "*":
        return x * int(m.group(3))
    if m.group(2) == "/":
        return x // int(m.group(3))
    return x


def pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def seq_layer(spec, scope):
    """One layer map (or a bare type name) of a chain as a PyTorch module; shapes are
    inferred lazily (Lazy* modules) from a forward pass over the input size."""
    if isinstance(spec, str):
        spec = {"type": spec}
    s = {k: subst(v, scope) for k, v in spec.items()}
    t = s.get("type")
    if t == "conv2d":
        return nn.LazyConv2d(s["out"], pair(s["kernel"]), pair(s.get("stride", 1)),
                             pair(s.get("pad", 0)), pair(s.get("dilation", 1)),
                             s.get("groups", 1), s.get("bias", True))
    if t == "batch_norm2d":
        return nn.LazyBatchNorm2d(eps=s.get("eps", 1e-5), momentum=s.get("momentum", 0.1))
    if t == "relu":
        return nn.ReLU(inplace=True)
    if t == "max_pool2d":
        k = pair(s["kernel"])
        return nn.MaxPool2d(k, pair(s.get("stride", k)), pair(s.get("pad", 0)))
    if t == "adaptive_avg_pool2d":
        return nn.AdaptiveAvgPool2d(pair(s["out"]))
    if t == "global_avg_pool":
        return nn.AdaptiveAvgPool2d(1)
    if t == "flatten":
        return nn.Flatten()
    if t == "dropout":
        return nn.Dropout(s.get("p", 0.5))
    if t == "linear":
        return nn.LazyLinear(s["out"], s.get("bias", True))
    raise SeqError(f"layer type {t!r} is not supported by the chain builder")


def seq_items(items, scope, blocks, out):
    """Expands a layer list (groups, blocks, repeat) into `out`, in order."""
    for it in items:
        if isinstance(it, dict) and ("layers" in it or "block" in it):
            bad = set(it) - {"name", "layers", "block", "args", "repeat"}
            if bad:
                raise SeqError(f"keys {sorted(bad)} need a hand-written model (--model)")
            n = int(subst(it.get("repeat", 1), scope))
            for _ in range(n):
                if "block" in it:
                    b = blocks[it["block"]]
                    inner = dict(scope)
                    inner.update({k: subst(v, scope) for k, v in (b.get("args") or {}).items()})
                    inner.update({k: subst(v, scope) for k, v in (it.get("args") or {}).items()})
                    seq_items(b["layers"], inner, blocks, out)
                else:
                    seq_items(it["layers"], scope, blocks, out)
        else:
            out.append(seq_layer(it, scope))


def seq_model(model_cfg):
    scope = dict(model_cfg.get("args") or {})
    layers = []
    warnings.filterwarnings("ignore", message="Lazy modules are a new feature")
    seq_items(model_cfg["layers"], scope, model_cfg.get("blocks") or {}, layers)
    net = nn.Sequential(*layers)
    with torch.no_grad():
        net.eval()(torch.zeros((1,) + tuple(model_cfg["input"])))  # materialise Lazy*
    net.train()
    return net


TASKS = {"fcn": "segment", "unet": "segment", "segnet": "segment", "unet_denoise": "denoise",
         "resnet20": "classify", "vgg": "classify", "alexnet": "classify"}


def build(name, model_cfg):
    """The network `name` (one of TASKS) sized by the resolved config's model section."""
    a = model_cfg.get("args") or {}
    cin = int(model_cfg["input"][0])
    if name == "fcn":
        return FCN(cin, int(a["width"]), int(a["num_classes"]))
    if name == "unet":
        return UNet(cin, int(a["width"]), int(a["num_classes"]), 4, False)
    if name == "segnet":
        return SegNet(cin, int(a["width"]), int(a["num_classes"]))
    if name == "unet_denoise":
        if int(a["channels"]) != cin:
            raise SeqError(f"model.args.channels={a['channels']} differs from the input's "
                           f"{cin} channels: the residual add needs them equal")
        return UNet(cin, int(a["width"]), cin, 2, True)
    if name == "resnet20":
        return resnet20(cin, int(a["num_classes"]), int(a.get("width", 16)))
    if name in ("vgg", "alexnet"):
        return seq_model(model_cfg)
    raise SeqError(f"unknown model {name!r}; known: {', '.join(TASKS)}")


def load_ours(model, path, strict=True):
    """Our checkpoint or weights file (HDF5, one top-level dataset per state_dict key) into
    the model: a check that both sides compute the same function, and train.init_weights."""
    import h5py
    state = model.state_dict()
    with h5py.File(path, "r") as f:
        have = {k: f[k] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
        new = {k: torch.as_tensor(np.asarray(have[k][()])).reshape(state[k].shape)
               .to(state[k].dtype) for k in state if k in have and have[k].size == state[k].numel()}
    missing = sorted(set(state) - set(new))
    if strict and (missing or set(have) - set(state)):
        raise KeyError(f"{path}: missing or mismatched {missing[:5]}, unexpected "
                       f"{sorted(set(have) - set(state))[:5]}")
    model.load_state_dict(new, strict=False)
    return len(new)
