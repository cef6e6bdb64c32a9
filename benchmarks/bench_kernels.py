"""conv2d forward + backward on the layers of the CLS and SEG reference workloads.

    python benchmarks/bench_kernels.py [--repeats 10] [--workload cls|seg|all] [--runtime cpu|gpu]

Reference workloads (ARCHITECTURE.md): CLS batch 32x3x64x64, conv3x3 3->16 s1, 16->32 s2,
32->64 s2, 64->128 s2; SEG batch 8x3x128x128, the same encoder, then a decoder of nearest x2
upsampling + conv3x3 128->64, 64->32, 32->16 and a conv1x1 16->5.  Each layer is timed as in a
training step: forward, then backward with the weight gradient and the input gradient (none for
the first layer, whose input is the image).  Inputs are in the layout the previous layer leaves
(channel-major), the first one in plain NCHW.  Layers are interleaved over the repeats and the
best time of each is kept; the matmul rate is measured in the same run, before and after, and
the better of the two is the reference.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import matmul_rate, module_of, peak_memory, timed  # noqa: E402

from halcon_dl.autograd import Tensor  # noqa: E402
from halcon_dl.kernels.layout import from_channel_major  # noqa: E402
from halcon_dl.ops import conv2d  # noqa: E402

# (name, batch, ci, co, h, w, kernel, stride, padding, first layer)
CLS = [('cls.conv1 3->16 s1', 32, 3, 16, 64, 64, 3, 1, 1, True),
       ('cls.conv2 16->32 s2', 32, 16, 32, 64, 64, 3, 2, 1, False),
       ('cls.conv3 32->64 s2', 32, 32, 64, 32, 32, 3, 2, 1, False),
       ('cls.conv4 64->128 s2', 32, 64, 128, 16, 16, 3, 2, 1, False)]
SEG = [('seg.conv1 3->16 s1', 8, 3, 16, 128, 128, 3, 1, 1, True),
       ('seg.conv2 16->32 s2', 8, 16, 32, 128, 128, 3, 2, 1, False),
       ('seg.conv3 32->64 s2', 8, 32, 64, 64, 64, 3, 2, 1, False),
       ('seg.conv4 64->128 s2', 8, 64, 128, 32, 32, 3, 2, 1, False),
       ('seg.dec1 128->64 s1', 8, 128, 64, 32, 32, 3, 1, 1, False),
       ('seg.dec2 64->32 s1', 8, 64, 32, 64, 64, 3, 1, 1, False),
       ('seg.dec3 32->16 s1', 8, 32, 16, 128, 128, 3, 1, 1, False),
       ('seg.head 16->5 1x1', 8, 16, 5, 128, 128, 1, 1, 0, False)]


def make_layer(spec, xp, rng):
    name, n, ci, co, h, w, k, s, p, first = spec
    if first:
        x = rng.standard_normal((n, ci, h, w)).astype(np.float32)
    else:
        x = from_channel_major(rng.standard_normal((ci, n, h, w)).astype(np.float32))
    x = Tensor(xp.asarray(x), requires_grad=not first)
    wt = Tensor(xp.asarray((rng.standard_normal((co, ci, k, k)) * 0.1).astype(np.float32)),
                requires_grad=True)
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    g = xp.asarray(from_channel_major(rng.standard_normal((co, n, ho, wo)).astype(np.float32)))
    flops = 2 * n * ho * wo * co * ci * k * k * (2 if first else 3)

    def step():
        x.grad = wt.grad = None
        conv2d(x, wt, stride=s, padding=p).backward(g)
    return name, step, flops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--workload', choices=['cls', 'seg', 'all'], default='all')
    parser.add_argument('--runtime', choices=['cpu', 'gpu'], default='cpu')
    args = parser.parse_args(argv)
    xp = module_of(args.runtime)
    rng = np.random.default_rng(0)
    workloads = {'cls': [('CLS', CLS)], 'seg': [('SEG', SEG)],
                 'all': [('CLS', CLS), ('SEG', SEG)]}[args.workload]
    rate = matmul_rate(xp)
    for title, specs in workloads:
        layers = [make_layer(spec, xp, rng) for spec in specs]
        best = [float('inf')] * len(layers)
        for _, step, _ in layers:
            step()                                   # warm-up
        for _ in range(args.repeats):
            for i, (_, step, _) in enumerate(layers):
                best[i] = min(best[i], timed(step, xp))
        peaks = [peak_memory(step) if xp is np else 0 for _, step, _ in layers]
        rate = max(rate, matmul_rate(xp))
        print(f'\n{title}: conv2d forward + backward (dW, and dX except the first layer), '
              f'float32, {args.runtime}; matmul rate {rate / 1e9:.0f} GFLOP/s')
        print(f'{"layer":24s} {"ms":>8s} {"GFLOP":>7s} {"GFLOP/s":>8s} {"of matmul":>9s} {"peak MiB":>9s}')
        for (name, _, flops), t, peak in zip(layers, best, peaks):
            print(f'{name:24s} {t * 1e3:8.2f} {flops / 1e9:7.3f} {flops / t / 1e9:8.1f} '
                  f'{flops / t / rate:9.1%} {peak / 2 ** 20:9.1f}')
        total_t, total_f = sum(best), sum(f for _, _, f in layers)
        print(f'{"sum":24s} {total_t * 1e3:8.2f} {total_f / 1e9:7.3f} {total_f / total_t / 1e9:8.1f} '
              f'{total_f / total_t / rate:9.1%} {max(peaks) / 2 ** 20:9.1f} (max)')


if __name__ == '__main__':
    main()
