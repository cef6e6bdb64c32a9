"""Evaluation with CuPy results: arrays on the GPU are copied to the host once and give the
same measures as NumPy arrays.  Skipped without CuPy and a CUDA device."""
import math

import numpy as np
import pytest

from halcon_dl.backend import gpu_available
from halcon_dl.evaluation import (ClassificationEvaluation, DetectionEvaluation,
                                  SegmentationEvaluation)

cp = pytest.importorskip('cupy')
if not gpu_available():
    pytest.skip('no CUDA device for CuPy', allow_module_level=True)


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_cupy_inputs_give_the_numpy_measures():
    rng = np.random.default_rng(0)
    pairs = {'classification': ClassificationEvaluation, 'segmentation': SegmentationEvaluation}
    truth, ranked = rng.choice([1, 2, 3], 20), np.argsort(rng.random((20, 3)), axis=1) + 1
    label, pred = rng.choice([0, 1, 2, 3], (6, 7)), rng.choice([1, 2, 3], (6, 7))
    cpu = {k: c([1, 2, 3], [0]) if k == 'segmentation' else c([1, 2, 3])
           for k, c in pairs.items()}
    gpu = {k: c([1, 2, 3], [0]) if k == 'segmentation' else c([1, 2, 3])
           for k, c in pairs.items()}
    cpu['classification'].add(truth, ranked)
    gpu['classification'].add(cp.asarray(truth), cp.asarray(ranked))
    cpu['segmentation'].add(label, pred)
    gpu['segmentation'].add(cp.asarray(label), cp.asarray(pred))
    for k in pairs:
        _same(cpu[k].measures(), gpu[k].measures())
    boxes = np.column_stack([rng.uniform(0, 50, (30, 2)), rng.uniform(-math.pi, math.pi, 30),
                             rng.uniform(2, 9, (30, 2))]).astype(np.float32)
    classes, scores = rng.choice([1, 2], 30), rng.random(30).astype(np.float32)
    on_cpu, on_gpu = (DetectionEvaluation([1, 2], 'rectangle2') for _ in range(2))
    on_cpu.add(boxes, classes, scores, boxes[:12], classes[:12])
    on_gpu.add(cp.asarray(boxes), cp.asarray(classes), cp.asarray(scores),
               cp.asarray(boxes[:12]), cp.asarray(classes[:12]))
    _same(on_cpu.measures(), on_gpu.measures())
    assert 0 < on_cpu.measures()['mean_ap'] < 1        # 12 detections are the truth, 18 not
