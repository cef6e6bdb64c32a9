"""Detection evaluation: the accumulation evaluate_dl_model does, on synthetic results.

    python benchmarks/bench_evaluation.py [--images 1000] [--repeats 3] [--instance-type rectangle1]

Workload (seeded): 1,000 images of 512×512 with 5 classes; per image 10 ground-truth boxes
(centres uniform in the image, half sizes uniform in [8, 64] px, classes uniform; rectangle2
angles uniform in [-π, π)) and 100 detections: 3 per ground-truth box, jittered (centre shifted
by up to 15 % of the size, sizes scaled by 0.8–1.25, angle turned by up to 0.3 rad), of the
box's class with probability 0.9, and 70 random boxes of random classes; confidences uniform in
[0.05, 1).  Detections and ground truth are given as apply_dl_model results and DLSamples
(dicts of Python lists), fed to ``DetectionEvaluation.update`` in chunks of 8 as
``evaluate_dl_model`` does with batch size 8, then ``measures()``.  The model's inference is
**not** part of the time (there is no detection model yet, and it is not the evaluation).
Printed: best of N runs of the accumulation and of the final AP computation, in seconds, and
the peak of traced memory during one more run.

Target on the 2-core machine: < 5 s for 1,000 rectangle1 images.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import peak_memory  # noqa: E402

from halcon_dl.detection import rect2_to_rect1  # noqa: E402
from halcon_dl.detection.boxes import RECT1_COLUMNS, RECT2_COLUMNS  # noqa: E402
from halcon_dl.evaluation import DetectionEvaluation  # noqa: E402

SIZE, CLASSES, TRUTH, PER_TRUTH, RANDOM, CHUNK = 512, [1, 2, 3, 4, 5], 10, 3, 70, 8


def rect2_boxes(rng, n, centre=None, half=None, phi=None):
    centre = rng.uniform(0, SIZE, (n, 2)) if centre is None else centre
    half = rng.uniform(8, 64, (n, 2)) if half is None else half
    phi = rng.uniform(-math.pi, math.pi, n) if phi is None else phi
    return np.column_stack([centre, phi, half])


def synthetic_image(rng, instance_type):
    """(sample, result) of one image, as dicts of lists (module docstring)."""
    truth = rect2_boxes(rng, TRUTH)
    truth_cls = rng.choice(CLASSES, TRUTH)
    near = np.repeat(truth, PER_TRUTH, axis=0)
    n = near.shape[0]
    near[:, :2] += rng.uniform(-0.15, 0.15, (n, 2)) * near[:, 3:5]
    near[:, 2] += rng.uniform(-0.3, 0.3, n)
    near[:, 3:5] *= rng.uniform(0.8, 1.25, (n, 2))
    near_cls = np.where(rng.random(n) < 0.9, np.repeat(truth_cls, PER_TRUTH),
                        rng.choice(CLASSES, n))
    boxes = np.concatenate([near, rect2_boxes(rng, RANDOM)])
    classes = np.concatenate([near_cls, rng.choice(CLASSES, RANDOM)])
    if instance_type == 'rectangle1':
        boxes, truth, columns = rect2_to_rect1(boxes), rect2_to_rect1(truth), RECT1_COLUMNS
    else:
        columns = RECT2_COLUMNS
    sample = {f'bbox_{c}': truth[:, k].tolist() for k, c in enumerate(columns)}
    sample['bbox_label_id'] = truth_cls.tolist()
    result = {f'bbox_{c}': boxes[:, k].tolist() for k, c in enumerate(columns)}
    result.update(bbox_class_id=classes.tolist(),
                  bbox_confidence=rng.uniform(0.05, 1.0, len(classes)).tolist())
    return sample, result


def evaluate(pairs, instance_type):
    evaluation = DetectionEvaluation(CLASSES, instance_type)
    t0 = time.perf_counter()
    for k in range(0, len(pairs), CHUNK):
        chunk = pairs[k:k + CHUNK]
        evaluation.update([s for s, _ in chunk], [r for _, r in chunk], start=k)
    t1 = time.perf_counter()
    measures = evaluation.measures()
    return t1 - t0, time.perf_counter() - t1, measures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=int, default=1000)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--instance-type', default='rectangle1',
                        choices=['rectangle1', 'rectangle2'])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pairs = [synthetic_image(rng, args.instance_type) for _ in range(args.images)]
    runs = [evaluate(pairs, args.instance_type) for _ in range(args.repeats)]
    accumulate = min(r[0] for r in runs)
    finish = min(r[1] for r in runs)
    peak = peak_memory(lambda: evaluate(pairs, args.instance_type))
    print(f'{args.instance_type}: {args.images} images x {TRUTH} ground-truth boxes, '
          f'{TRUTH * PER_TRUTH + RANDOM} detections, {len(CLASSES)} classes, chunks of {CHUNK}')
    print(f'accumulate {accumulate:.3f} s   AP {finish:.3f} s   total {accumulate + finish:.3f} s '
          f'(best of {args.repeats})   peak traced memory {peak / 2**20:.1f} MiB')
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in runs[0][2].items()
           if k != 'class_ap'})


if __name__ == '__main__':
    main()
