"""One small, valid call of every differentiable op, for checks that must cover all of them
(dtype preservation on the CPU, CPU/GPU parity).  Each case: (name, function of Tensors,
input arrays in float64; the caller casts and moves them)."""
from __future__ import annotations

import numpy as np

from .. import ops as O


def op_cases():
    rng = np.random.default_rng(7)

    def r(*shape, low=-2.0, high=2.0):
        return rng.uniform(low, high, shape)

    img = r(2, 3, 6, 5)
    stats = (np.zeros(3), np.ones(3))
    return [
        ('add', O.add, [r(3, 4), r(4)]), ('sub', O.sub, [r(3, 4), r(3, 1)]),
        ('mul', O.mul, [r(3, 4), r(3, 4)]), ('div', O.div, [r(3, 4), r(4, low=0.5, high=2)]),
        ('neg', O.neg, [r(5)]), ('pow', lambda x: O.pow(x, 3), [r(5)]),
        ('pow_tensor', O.pow, [r(5, low=0.5, high=2), r(5)]), ('exp', O.exp, [r(5)]),
        ('log', O.log, [r(5, low=0.5, high=2)]), ('sqrt', O.sqrt, [r(5, low=0.5, high=2)]),
        ('abs', O.abs, [r(5)]), ('maximum', O.maximum, [r(3, 4), r(4)]),
        ('sum', lambda x: O.sum(x, axis=1), [r(3, 4)]),
        ('mean', lambda x: O.mean(x, axis=(0, 1), keepdims=True), [r(3, 4)]),
        ('max', lambda x: O.max(x, axis=0), [r(3, 4)]),
        ('reshape', lambda x: O.reshape(x, (4, 3)), [r(3, 4)]),
        ('transpose', lambda x: O.transpose(x, (1, 0)), [r(3, 4)]),
        ('concatenate', lambda a, b: O.concatenate([a, b], axis=1), [r(2, 3), r(2, 1)]),
        ('stack', lambda a, b: O.stack([a, b], axis=0), [r(2, 3), r(2, 3)]),
        ('getitem', lambda x: O.getitem(x, (slice(1, None), 0)), [r(3, 4)]),
        ('getitem_array', lambda x: O.getitem(x, np.array([0, 2, 0])), [r(3, 4)]),
        ('getitem_mask', lambda x: O.getitem(x, np.array([[True, False, True, True]] * 3)),
         [r(3, 4)]),
        ('getitem_arrays_and_slice',
         lambda x: O.getitem(x, (np.array([[1], [0]]), slice(None), np.array([2, 2, 0]))),
         [r(2, 3, 4)]),
        ('matmul', O.matmul, [r(2, 3, 4), r(4, 5)]), ('relu', O.relu, [r(5)]),
        ('leaky_relu', O.leaky_relu, [r(5)]), ('sigmoid', O.sigmoid, [r(5)]),
        ('tanh', O.tanh, [r(5)]), ('softplus', O.softplus, [r(5)]),
        ('softmax', lambda x: O.softmax(x, axis=1), [r(3, 4)]),
        ('log_softmax', lambda x: O.log_softmax(x, axis=0), [r(3, 4)]),
        ('conv2d', lambda x, w, b: O.conv2d(x, w, b, stride=2, padding=1), [img, r(4, 3, 3, 3), r(4)]),
        ('max_pool2d', lambda x: O.max_pool2d(x, 2), [img]),
        ('avg_pool2d', lambda x: O.avg_pool2d(x, 3, 2, 1), [img]),
        ('global_avg_pool2d', O.global_avg_pool2d, [img]),
        ('upsample_nearest2d', lambda x: O.upsample_nearest2d(x, 2), [img]),
        ('upsample_conv2d', lambda x, w, b: O.upsample_conv2d(x, w, b, 2, padding=1),
         [img, r(4, 3, 3, 3), r(4)]),
        ('batch_norm2d', lambda x, g, b: O.batch_norm2d(x, g, b, *[s.astype(x.dtype) for s in stats],
                                                        training=True, relu=True),
         [img, r(3), r(3)]),
    ]
