"""train_dl_model_batch on the CLS reference workload, as a fraction of the matmul rate.

    python benchmarks/bench_train_step.py [--steps 20] [--runtime cpu|gpu] [--backbone compact]
    python benchmarks/bench_train_step.py --type detection [--instance-type rectangle2]

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
from common import matmul_rate, module_of, peak_memory, synchronize, timed  # noqa: E402

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
    parser.add_argument('--batch', type=int, default=None,
                        help='samples per step (default 32; detection 8)')
    parser.add_argument('--type', choices=['classification', 'detection'],
                        default='classification')
    parser.add_argument('--instance-type', choices=['rectangle1', 'rectangle2'],
                        default='rectangle1', help='detection only')
    args = parser.parse_args(argv)
    if args.type == 'detection':
        return detection_benchmark(args)
    args.batch = args.batch or 32
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


# -- detection ---------------------------------------------------------------------------------
DET_IMAGE_SIZE, DET_NUM_BOXES, DET_NUM_CLASSES = 256, 10, 6


def detection_samples(count, seed, instance_type):
    """Images uniform in the value range with DET_NUM_BOXES random boxes each: centres uniform
    in the image, full sizes uniform in [16, 96] px, rectangle2 angles uniform in [-π, π)."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        s = {'image': rng.uniform(-127, 128, (DET_IMAGE_SIZE,) * 2 + (3,)).astype(np.float32),
             'bbox_label_id': rng.integers(0, DET_NUM_CLASSES, DET_NUM_BOXES)}
        centre = rng.uniform(0, DET_IMAGE_SIZE - 1, (2, DET_NUM_BOXES))
        size = rng.uniform(16, 96, (2, DET_NUM_BOXES))
        if instance_type == 'rectangle1':
            s.update(bbox_row1=centre[0] - size[0] / 2, bbox_col1=centre[1] - size[1] / 2,
                     bbox_row2=centre[0] + size[0] / 2, bbox_col2=centre[1] + size[1] / 2)
        else:
            s.update(bbox_row=centre[0], bbox_col=centre[1],
                     bbox_phi=rng.uniform(-np.pi, np.pi, DET_NUM_BOXES),
                     bbox_length1=size[0] / 2, bbox_length2=size[1] / 2)
        samples.append(s)
    return samples


def detection_benchmark(args):
    """DET: 'compact' detector, batch 8 × 3 × 256 × 256, levels 2–4, 3 subscales × 3 aspect
    ratios = 9 anchors per cell (rectangle2: angle 0 only), 6 classes, 10 boxes per image,
    capacity 'medium', SGD with momentum.  Per step: target building (matching + encoding of the
    validated boxes), forward+backward (``model.gradients`` minus its collate) and the update,
    each timed on its own, interleaved, medians; peak traced memory of one whole step."""
    from halcon_dl.tasks.detection import read_boxes
    xp = module_of(args.runtime)
    batch = args.batch or 8
    model = hdl.create_dl_model(
        'detection', backbone=args.backbone, class_ids=list(range(DET_NUM_CLASSES)),
        image_width=DET_IMAGE_SIZE, image_height=DET_IMAGE_SIZE, image_num_channels=3,
        instance_type=args.instance_type, min_level=2, max_level=4, anchor_num_subscales=3,
        anchor_aspect_ratios=[1.0, 2.0, 0.5], batch_size=batch, learning_rate=0.001,
        runtime=args.runtime)
    batches = [detection_samples(batch, seed, args.instance_type) for seed in range(3)]
    kind = args.instance_type
    parsed = [[read_boxes(s, i, kind, model.class_ids) for i, s in enumerate(b)] for b in batches]
    for b in batches:                                        # warm-up
        hdl.train_dl_model_batch(model, b)
    rate = matmul_rate(xp)
    parts = {'targets': [], 'collate': [], 'gradients': [], 'update': [], 'step': []}
    for i in range(args.steps):
        b, boxes = batches[i % len(batches)], parsed[i % len(batches)]
        parts['targets'].append(timed(lambda: model.task.targets(
            model, [x for x, _ in boxes], [y for _, y in boxes]), xp))
        parts['collate'].append(timed(lambda: model.task.collate(model, b), xp))
        result = {}
        parts['gradients'].append(timed(lambda: result.update(g=model.gradients(b)[1]), xp))
        weights = dict(model.parameters())
        parts['update'].append(timed(lambda: model._solver_step(weights, result['g']), xp))
        parts['step'].append(timed(lambda: hdl.train_dl_model_batch(model, b), xp))
    rate = max(rate, matmul_rate(xp))
    peak = peak_memory(lambda: hdl.train_dl_model_batch(model, batches[0])) if xp is np else 0
    med = {k: float(np.median(v)) * 1e3 for k, v in parts.items()}
    forward_backward = med['gradients'] - med['collate']
    anchors = model.task.anchors(model)[0].shape[0]
    print(f'DET train step ({args.backbone}, {kind}, batch {batch} x 3 x {DET_IMAGE_SIZE}^2, '
          f'levels 2-4, 9 anchors per cell = {anchors} anchors per image, {DET_NUM_BOXES} boxes '
          f'per image, {args.runtime}); matmul rate {rate / 1e9:.0f} GFLOP/s; medians of '
          f'{args.steps} steps')
    print(f'step {med["step"]:.1f} ms (best {min(parts["step"]) * 1e3:.1f}): target building '
          f'{med["targets"]:.1f} ms ({med["targets"] / med["step"]:.1%}), other collate '
          f'{med["collate"] - med["targets"]:.1f} ms, forward+backward {forward_backward:.1f} ms, '
          f'update {med["update"]:.1f} ms; peak traced memory {peak / 2 ** 20:.0f} MiB')


if __name__ == '__main__':
    main()
