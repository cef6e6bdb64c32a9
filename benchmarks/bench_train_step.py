"""train_dl_model_batch on a reference workload, as a fraction of the matmul rate.

    python benchmarks/bench_train_step.py [--type classification|segmentation] [--steps 20]
                                          [--runtime cpu|gpu] [--backbone compact]
    python benchmarks/bench_train_step.py --type detection [--instance-type rectangle2]

CLS (ARCHITECTURE.md; ``--type classification``, the default): backbone 'compact', 10 classes,
64x64x3 images, batch 32, SGD with momentum, cross-entropy.  A step's FLOPs are counted from the
layer shapes (convolutions and the dense layer: forward, weight gradient and input gradient,
none for the first layer's input): 2.94 GFLOP.  The matmul rate is measured in the same run,
before and after; the better is used.

SEG (``--type segmentation``): see ``segmentation_main``; DET (``--type detection``): see
``detection_benchmark``.
"""
from __future__ import annotations

import argparse
import copy
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
    parser.add_argument('--type', choices=['classification', 'segmentation', 'detection'],
                        default='classification')
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--runtime', choices=['cpu', 'gpu'], default='cpu')
    parser.add_argument('--backbone', default='compact')
    parser.add_argument('--batch', type=int, default=None,
                        help="default: the workload's (32 CLS, 8 SEG, 8 DET)")
    parser.add_argument('--instance-type', choices=['rectangle1', 'rectangle2'],
                        default='rectangle1', help='detection only')
    parser.add_argument('--multiplier', type=int, default=1,
                        help='classification: batch_size_multiplier M (a step of M sub-batches of '
                             '--batch samples; the peak memory should not grow with M)')
    parser.add_argument('--no-torch', action='store_true', help='skip the PyTorch comparison')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads of halcon_dl and PyTorch (default: all cores)')
    args = parser.parse_args(argv)
    if args.threads:
        from halcon_dl.kernels.parallel import set_num_threads
        set_num_threads(args.threads)
    if args.type == 'segmentation':
        return segmentation_main(args)
    if args.type == 'detection':
        return detection_benchmark(args)
    args.batch = args.batch or 32
    xp = module_of(args.runtime)
    model = hdl.create_dl_model('classification', backbone=args.backbone, class_ids=list(range(10)),
                                image_width=64, image_height=64, image_num_channels=3,
                                batch_size=args.batch, batch_size_multiplier=args.multiplier,
                                learning_rate=0.01, runtime=args.runtime)
    rng = np.random.default_rng(0)
    step_samples = args.batch * args.multiplier
    batches = [[{'image': rng.uniform(-127, 128, (64, 64, 3)).astype(np.float32),
                 'image_label_id': int(rng.integers(10))} for _ in range(step_samples)]
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
    flops = step_flops(model, args.batch) * args.multiplier
    best, median = min(times), float(np.median(times))
    print(f'CLS train step ({args.backbone}, batch {args.batch} x multiplier {args.multiplier}, '
          f'{args.runtime}): '
          f'{flops / 1e9:.2f} GFLOP per step; matmul rate {rate / 1e9:.0f} GFLOP/s')
    print(f'best {best * 1e3:.1f} ms ({flops / best / rate:.1%} of matmul), median '
          f'{median * 1e3:.1f} ms ({flops / median / rate:.1%}), peak traced memory '
          f'{peak / 2 ** 20:.1f} MiB, {step_samples / median:.0f} samples/s')


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

# -- SEG: the segmentation reference workload ------------------------------------------------------

SEG_SIZE, SEG_CLASSES, SEG_BATCH = 128, 5, 8


def segmentation_main(args):
    """SEG (ARCHITECTURE.md): backbone 'compact' (conv3x3 3->16 s1, 16->32 s2, 32->64 s2,
    64->128 s2, each + BatchNorm + ReLU), decoder 3 x (nearest x2 upsample, conv3x3 + BatchNorm +
    ReLU: 128->64->32->16, each plus the encoder map of its level), conv1x1 16->5, per-pixel
    cross-entropy; batch 8 x 3 x 128 x 128, SGD with momentum 0.9.  FLOPs are counted from the
    convolutions one traced step runs (13.9 GFLOP).

    When PyTorch is installed (never a dependency) the same network is built in PyTorch with
    the same weights and BatchNorm state (``bench_vs_torch.torch_twins``); both train three steps on the same batches and their
    losses are compared (they agree to float32 rounding).  Then the steps are timed interleaved
    in this process: halcon_dl twice per round (an A/A control of the timing noise), PyTorch
    CPU in NCHW and in channels_last; the ratio is taken to the faster PyTorch layout.
    """
    xp = module_of(args.runtime)
    batch = args.batch or SEG_BATCH
    model = hdl.create_dl_model('segmentation', backbone=args.backbone,
                                class_ids=list(range(SEG_CLASSES)), image_width=SEG_SIZE,
                                image_height=SEG_SIZE, image_num_channels=3, batch_size=batch,
                                learning_rate=0.01, momentum=0.9, runtime=args.runtime)
    rng = np.random.default_rng(0)
    batches = [[{'image': rng.uniform(-127, 128, (SEG_SIZE, SEG_SIZE, 3)).astype(np.float32),
                 'segmentation_image': rng.integers(0, SEG_CLASSES, (SEG_SIZE, SEG_SIZE))}
                for _ in range(batch)] for _ in range(3)]
    torch = None if args.no_torch or args.runtime != 'cpu' else _import_torch()
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)
    peers = {}
    if torch is not None and args.backbone == 'compact':
        from bench_vs_torch import torch_twins
        nets = torch_twins('seg', model, torch)
        ours = copy.deepcopy(model)
        ours_losses = [hdl.train_dl_model_batch(ours, b)['total_loss'] for b in batches]
        torch_losses = [nets['NCHW'](b) for b in batches]
        worst = max(abs(a - b) / abs(b) for a, b in zip(ours_losses, torch_losses))
        print(f'losses of 3 steps from the same weights: halcon_dl '
              f'{", ".join(f"{v:.6f}" for v in ours_losses)}; PyTorch '
              f'{", ".join(f"{v:.6f}" for v in torch_losses)}; largest relative difference '
              f'{worst:.1e}')
        peers = nets
    flops = traced_conv_flops(model, batches[0])
    rate = matmul_rate(xp)
    time.sleep(1.0)                       # let the BLAS threads of the matmul go idle
    runs = {'halcon_dl': lambda i: hdl.train_dl_model_batch(model, batches[i % 3]),
            'halcon_dl (A/A)': lambda i: hdl.train_dl_model_batch(model, batches[i % 3])}
    runs.update({f'PyTorch {k}': (lambda i, f=f: f(batches[i % 3])) for k, f in peers.items()})
    for run in runs.values():                                  # warm-up
        run(0)
    times = {k: [] for k in runs}
    for i in range(args.steps):
        for name, run in runs.items():
            synchronize(xp)
            t0 = time.perf_counter()
            run(i)
            synchronize(xp)
            times[name].append(time.perf_counter() - t0)
    time.sleep(1.0)
    rate = max(rate, matmul_rate(xp))
    peak = peak_memory(lambda: hdl.train_dl_model_batch(model, batches[0])) if xp is np else 0
    print(f'SEG train step ({args.backbone}, batch {batch} x 3 x {SEG_SIZE} x {SEG_SIZE}, '
          f'{SEG_CLASSES} classes, {args.runtime}): {flops / 1e9:.2f} GFLOP per step; matmul '
          f'rate {rate / 1e9:.0f} GFLOP/s; {args.steps} interleaved rounds')
    for name, t in times.items():
        best, median = min(t), float(np.median(t))
        print(f'{name:22s} best {best * 1e3:7.1f} ms ({flops / best / rate:5.1%} of matmul), '
              f'median {median * 1e3:7.1f} ms ({flops / median / rate:5.1%})')
    median = {k: float(np.median(t)) for k, t in times.items()}
    print(f'peak traced memory {peak / 2 ** 20:.0f} MiB; A/A median ratio '
          f'{median["halcon_dl"] / median["halcon_dl (A/A)"]:.2f}')
    if peers:
        fastest = min((k for k in median if k.startswith('PyTorch')), key=median.get)
        best_peer = min(min(times[k]) for k in times if k.startswith('PyTorch'))
        print(f'halcon_dl / {fastest} (threads {torch.get_num_threads()}): median '
              f'{median["halcon_dl"] / median[fastest]:.2f}x, best '
              f'{min(times["halcon_dl"]) / best_peer:.2f}x')


def traced_conv_flops(model, samples):
    """2·MACs of the forward, weight gradient and input gradient (none where the input needs
    no gradient: the first convolution) of every convolution of the network, from the shapes
    one training step (on a copy of ``model``) sees: the network as written, i.e. a decoder's
    upsampling and convolution counted unfused (``ops.upsample_conv`` computes the same with
    fewer)."""
    from halcon_dl.ops import conv as conv_op, conv_shifted, upsample_conv
    total, originals = [], {}

    def spy(cls):
        original = originals[cls] = cls.forward

        def forward(self, x, w, *rest, **kw):
            y = original(self, x, w, *rest, **kw)
            total.append(2 * y.size * (w.size // w.shape[0]) * (3 if self.needs_input_grad[0] else 2))
            return y
        return forward
    fusable = upsample_conv.fusable
    try:
        upsample_conv.fusable = lambda *args: False
        for cls in (conv_op.Conv2d, conv_shifted.ShiftedConv2d):
            cls.forward = spy(cls)
        hdl.train_dl_model_batch(copy.deepcopy(model), samples)
    finally:
        upsample_conv.fusable = fusable
        for cls, original in originals.items():
            cls.forward = original
    return sum(total)


def _import_torch():
    try:
        import torch
    except ImportError:
        print('PyTorch is not installed: no comparison')
        return None
    return torch


if __name__ == '__main__':
    main()
