"""The peer of cnn-dist's GPU training throughput (issue #6, section 6): a torchvision model
trained with SGD on synthetic data on one GPU, img/s over timed steps after warmup.
  python3 torch_gpu_train.py MODEL BATCH [--amp bf16] [--channels-last] [--steps N]
fp32 runs with TF32 off (our CUDA backend computes in fp32). Prints one JSON line."""
import argparse
import json
import time

import torch
import torchvision

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("batch", type=int)
p.add_argument("--amp", choices=["none", "bf16"], default="none")
p.add_argument("--channels-last", action="store_true")
p.add_argument("--steps", type=int, default=30)
p.add_argument("--warmup", type=int, default=10)
a = p.parse_args()

torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
model = getattr(torchvision.models, a.model)(num_classes=1000).to(dev)
fmt = torch.channels_last if a.channels_last else torch.contiguous_format
model = model.to(memory_format=fmt)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x = torch.randn(a.batch, 3, 224, 224, device=dev).to(memory_format=fmt)
y = torch.randint(0, 1000, (a.batch,), device=dev)
loss_fn = torch.nn.CrossEntropyLoss()


def step():
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.amp == "bf16"):
        loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()


for _ in range(a.warmup):
    step()
torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(a.steps):
    step()
torch.cuda.synchronize()
dt = time.perf_counter() - t
print(json.dumps({"model": a.model, "batch": a.batch, "amp": a.amp,
                  "channels_last": a.channels_last, "img_per_s": a.batch * a.steps / dt}))
