"""Detection geometry: IoU + anchor matching for the anchors of one 512×512 image.

    python benchmarks/bench_detection.py [--repeats 5] [--dtype float32|float64] [--runtime cpu|gpu]

Workload (fixed): anchors of a 512×512 image, levels 2–4, 3 subscales, aspect ratios
[1.0, 2.0, 0.5] (193,536 rectangle1 anchors; rectangle2 also angles [0, π/4]: 387,072) against
20 ground-truth boxes from a seeded generator (centres uniform in the image, full sizes uniform
in [16, 160] px, rectangle2 angles uniform in [-π, π)).  For each case the best of N runs of IoU
alone and of IoU + matching (``match_anchors``, which computes the IoU itself) is printed in ms,
with the peak of traced memory (NumPy reports its buffers to tracemalloc) during one more
matching run.  The machine's float32 matmul rate, measured in the same run, is printed so that
timings taken at different times can be compared.

Targets on the 2-core machine: rectangle1 IoU + matching < 100 ms; rectangle2 exact IoU +
matching < 2 s.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import matmul_rate, module_of, peak_memory, timed  # noqa: E402

from halcon_dl.detection import (generate_anchors, iou_rect1, iou_rect2,  # noqa: E402
                                 match_anchors)
from halcon_dl.detection.iou import MAX_PAIRS_PER_CHUNK  # noqa: E402

IMAGE_SIZE = 512
NUM_BOXES = 20
ANCHOR_ARGS = dict(min_level=2, max_level=4, num_subscales=3, aspect_ratios=[1.0, 2.0, 0.5])
RECT2_ANGLES = [0.0, math.pi / 4]


def ground_truth(instance_type: str, dtype, seed: int = 0):
    """20 seeded boxes of ``instance_type`` and their class indices (0..2), on the host."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0, IMAGE_SIZE - 1, size=(NUM_BOXES, 2))
    half = rng.uniform(8, 80, size=(NUM_BOXES, 2))
    classes = rng.integers(0, 3, size=NUM_BOXES)
    if instance_type == 'rectangle1':
        boxes = np.concatenate([centre - half, centre + half], axis=1)
    else:
        phi = rng.uniform(-math.pi, math.pi, size=(NUM_BOXES, 1))
        boxes = np.concatenate([centre, phi, half], axis=1)
    return boxes.astype(dtype), classes


def run_case(instance_type: str, dtype, repeats: int, runtime: str):
    xp = module_of(runtime)
    angles = RECT2_ANGLES if instance_type == 'rectangle2' else None
    anchors, _ = generate_anchors(IMAGE_SIZE, IMAGE_SIZE, angles=angles,
                                  instance_type=instance_type, dtype=dtype, runtime=runtime,
                                  **ANCHOR_ARGS)
    gt, classes = (xp.asarray(x) for x in ground_truth(instance_type, dtype))
    iou_fn = iou_rect1 if instance_type == 'rectangle1' else iou_rect2

    def match():
        return match_anchors(anchors, gt, classes, instance_type=instance_type)

    iou_ms = min(timed(lambda: iou_fn(anchors, gt), xp) for _ in range(repeats)) * 1e3
    match_ms = min(timed(match, xp) for _ in range(repeats)) * 1e3
    peak = peak_memory(match) / 2 ** 20 if runtime == 'cpu' else float('nan')
    positives = int((match().state == 1).sum())
    print(f'{instance_type:10s} {np.dtype(dtype).name:7s} {anchors.shape[0]:7d} anchors x '
          f'{NUM_BOXES} boxes: IoU {iou_ms:7.1f} ms, IoU + matching {match_ms:7.1f} ms, '
          f'peak {peak:6.1f} MB, positive anchors {positives}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float64'])
    parser.add_argument('--runtime', default='cpu', choices=['cpu', 'gpu'])
    args = parser.parse_args()
    xp = module_of(args.runtime)
    print(f'image {IMAGE_SIZE}x{IMAGE_SIZE}, {ANCHOR_ARGS}, rectangle2 angles [0, pi/4], '
          f'best of {args.repeats}, clipping chunk {MAX_PAIRS_PER_CHUNK} pairs, '
          f'matmul rate {matmul_rate(xp) / 1e9:.0f} GFLOP/s')
    for instance_type in ('rectangle1', 'rectangle2'):
        run_case(instance_type, np.dtype(args.dtype), args.repeats, args.runtime)


if __name__ == '__main__':
    main()
