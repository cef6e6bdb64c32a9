"""The embedded detection data set and the canonical angles of its rectangle2 boxes."""
import math

import numpy as np
import pytest

import halcon_dl.datasets.detection as det
from halcon_dl import HalconDLError
from halcon_dl.datasets import (ROTATIONAL_SYMMETRY, SHAPE_CLASS_NAMES, ShapeSpec,
                                canonical_angle, default_detection_dataset, shape_mask)


@pytest.mark.parametrize('shape', SHAPE_CLASS_NAMES)
def test_canonical_angle_shows_the_same_picture_within_the_symmetry_period(shape):
    order = ROTATIONAL_SYMMETRY[shape]
    for phi in np.linspace(-7.0, 7.0, 23):
        reduced = canonical_angle(shape, phi)
        if order == 0:
            assert reduced == 0.0
            continue
        assert -math.pi / order <= reduced < math.pi / order
        turns = (phi - reduced) / (2 * math.pi / order)
        assert abs(turns - round(turns)) < 1e-9
        masks = [shape_mask(ShapeSpec(shape, 20.3, 19.6, 24.0, angle, (200,), (0,)), 40, 40)
                 for angle in (phi, reduced)]
        assert np.count_nonzero(masks[0] != masks[1]) <= 2       # pixel centres on an edge


def test_canonical_angle_maps_the_half_open_end_of_the_period_to_its_start():
    assert canonical_angle('square', math.pi / 4) == pytest.approx(-math.pi / 4)
    assert canonical_angle('square', -math.pi / 4) == pytest.approx(-math.pi / 4)


@pytest.mark.parametrize('kind', ['rectangle1', 'rectangle2'])
def test_default_detection_dataset_has_empty_images_border_boxes_and_is_reproducible(
        kind, monkeypatch):
    monkeypatch.setattr(det, 'DETECTION_NUM_SAMPLES', 40)
    train, val = default_detection_dataset(kind, seed=3)
    again, _ = default_detection_dataset(kind, seed=3)
    assert len(train) == 32 and len(val) == 8
    for a, b in zip(train, again):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    samples = train + val
    size = det.DETECTION_IMAGE_SIZE
    assert all(s['image'].shape == (size, size, 3) for s in samples)
    counts = [len(s['bbox_label_id']) for s in samples]
    assert min(counts) == 0 and max(counts) >= 3
    labels = np.concatenate([s['bbox_label_id'] for s in samples])
    assert set(labels.tolist()) <= set(det.DETECTION_CLASS_IDS)
    if kind == 'rectangle1':
        rows = np.concatenate([np.r_[s['bbox_row1'], s['bbox_row2']] for s in samples])
        assert np.any(rows == -0.5) or np.any(rows == size - 0.5)     # cut by the border
        return
    for s in samples:
        for label, phi in zip(s['bbox_label_id'], s['bbox_phi']):
            order = ROTATIONAL_SYMMETRY[det.DETECTION_CLASS_NAMES[label]]
            assert phi == 0.0 if order == 0 else abs(phi) <= math.pi / order + 1e-12


def test_default_detection_dataset_needs_an_instance_type():
    with pytest.raises(HalconDLError, match='instance_type'):
        default_detection_dataset(None)
