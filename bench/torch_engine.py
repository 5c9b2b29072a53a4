"""PyTorch reference for the engine benchmark (bench/engine.ts): milliseconds per training step, one thread.

The three reference workloads (README, Engine performance), with the same shapes, batch sizes and optimizers as the engine's:
  mlp          784-512-512-10, batch 128, SGD (lr 0.01, momentum 0.9)
  cnn          conv3x3(1->32)+relu+maxpool2, conv3x3(32->64)+relu+maxpool2, dense 1600->128 relu, dense 128->10,
               batch 128 of 1x28x28, SGD (lr 0.01, momentum 0.9)
  transformer  2 pre-LayerNorm blocks, d_model 128, 4 heads, seq 64, vocab 256, GELU MLP x4, learned positions,
               untied head without bias, batch 32, AdamW (lr 1e-3)
A step is forward + softmax cross-entropy + backward + optimizer update; the figure is the median over timed steps
after warm-up. Usage: python3 torch_engine.py [--steps-mlp N] [--steps-cnn N] [--steps-transformer N] [--warmup N]
Prints one JSON object: {"torch": "<version>", "threads": 1, "mlp": ms, "cnn": ms, "transformer": ms}.
With --serve it first prints {"torch": "<version>", "threads": 1}, then answers each line "<workload> <steps> <warmup>"
read from stdin with {"<workload>": ms} (the models are built once), so that a caller can interleave its own
measurements with PyTorch's.
"""
import sys
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Transformer(nn.Module):
    def __init__(self, vocab=256, seq=64, dim=128, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(seq, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def workloads():
    g = torch.Generator().manual_seed(0)
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    cnn = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    lm = Transformer()
    return {
        'mlp': (mlp, torch.optim.SGD(mlp.parameters(), lr=0.01, momentum=0.9),
                torch.randn(128, 784, generator=g), torch.randint(0, 10, (128,), generator=g)),
        'cnn': (cnn, torch.optim.SGD(cnn.parameters(), lr=0.01, momentum=0.9),
                torch.randn(128, 1, 28, 28, generator=g), torch.randint(0, 10, (128,), generator=g)),
        'transformer': (lm, torch.optim.AdamW(lm.parameters(), lr=1e-3),
                        torch.randint(0, 256, (32, 64), generator=g), torch.randint(0, 256, (32, 64), generator=g)),
    }


def time_steps(model, opt, x, y, warmup, steps):
    def step():
        opt.zero_grad(set_to_none=False)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def serve():
    built = workloads()
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        name, steps, warmup = parts[0], int(parts[1]), int(parts[2])
        model, opt, x, y = built[name]
        print(json.dumps({name: time_steps(model, opt, x, y, warmup, steps)}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--steps-mlp', type=int, default=30)
    parser.add_argument('--steps-cnn', type=int, default=10)
    parser.add_argument('--steps-transformer', type=int, default=10)
    parser.add_argument('--only', default='mlp,cnn,transformer')
    parser.add_argument('--serve', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.serve:
        serve()
        return
    steps = {'mlp': args.steps_mlp, 'cnn': args.steps_cnn, 'transformer': args.steps_transformer}
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads()}
    for name, (model, opt, x, y) in workloads().items():
        if name in args.only.split(','):
            out[name] = time_steps(model, opt, x, y, args.warmup, steps[name])
    print(json.dumps(out))


if __name__ == '__main__':
    main()
