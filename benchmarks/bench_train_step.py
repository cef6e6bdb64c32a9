"""train_dl_model_batch on the CLS reference workload, as a fraction of the matmul rate.

    python benchmarks/bench_train_step.py [--steps 20] [--runtime cpu|gpu] [--backbone compact]

CLS (ARCHITECTURE.md): backbone 'compact', 10 classes, 64x64x3 images, batch 32, SGD with
momentum, cross-entropy.  A step's FLOPs are counted from the layer shapes (convolutions and the
dense layer: forward, weight gradient and input gradient, none for the first layer's input):
2.94 GFLOP.  The matmul rate is measured in the same run, before and after; the better is used.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import matmul_rate, module_of, peak_memory, synchronize  # noqa: E402

import halcon_dl as hdl  # noqa: E402
from halcon_dl.nn import Conv2d, Dense  # noqa: E402


def step_flops(model, batch):
    """2·MACs of forward, weight gradient and input gradient over conv and dense layers."""
    h, w = model.get_param('image_height'), model.get_param('image_width')
    x = np.zeros((1, model.get_param('image_num_channels'), h, w), dtype=np.float32)
    flops, first = 0, True

    def conv_out(m, shape):
        n, c, hh, ww = shape
        k = m.weight.shape[2]
        ho = (hh + 2 * m.padding - k) // m.stride + 1
        wo = (ww + 2 * m.padding - k) // m.stride + 1
        return (n, m.weight.shape[0], ho, wo)
    shape = x.shape
    for _, m in model.network.named_modules():
        if isinstance(m, Conv2d):
            out = conv_out(m, shape)
            macs = batch * out[2] * out[3] * m.weight.size
            flops += 2 * macs * (2 if first else 3)
            first, shape = False, out
        elif isinstance(m, Dense):
            flops += 2 * batch * m.weight.size * 3
    return flops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--runtime', choices=['cpu', 'gpu'], default='cpu')
    parser.add_argument('--backbone', default='compact')
    parser.add_argument('--batch', type=int, default=32)
    args = parser.parse_args(argv)
    xp = module_of(args.runtime)
    model = hdl.create_dl_model('classification', backbone=args.backbone, class_ids=list(range(10)),
                                image_width=64, image_height=64, image_num_channels=3,
                                batch_size=args.batch, learning_rate=0.01, runtime=args.runtime)
    rng = np.random.default_rng(0)
    batches = [[{'image': rng.uniform(-127, 128, (64, 64, 3)).astype(np.float32),
                 'image_label_id': int(rng.integers(10))} for _ in range(args.batch)]
               for _ in range(4)]
    rate = matmul_rate(xp)
    for b in batches:                                        # warm-up
        hdl.train_dl_model_batch(model, b)
    times = []
    for i in range(args.steps):
        synchronize(xp)
        t0 = time.perf_counter()
        hdl.train_dl_model_batch(model, batches[i % len(batches)])
        synchronize(xp)
        times.append(time.perf_counter() - t0)
    rate = max(rate, matmul_rate(xp))
    peak = peak_memory(lambda: hdl.train_dl_model_batch(model, batches[0])) if xp is np else 0
    flops = step_flops(model, args.batch)
    best, median = min(times), float(np.median(times))
    print(f'CLS train step ({args.backbone}, batch {args.batch}, {args.runtime}): '
          f'{flops / 1e9:.2f} GFLOP per step; matmul rate {rate / 1e9:.0f} GFLOP/s')
    print(f'best {best * 1e3:.1f} ms ({flops / best / rate:.1%} of matmul), median '
          f'{median * 1e3:.1f} ms ({flops / median / rate:.1%}), peak traced memory '
          f'{peak / 2 ** 20:.0f} MiB, {args.batch / median:.0f} samples/s')


if __name__ == '__main__':
    main()
