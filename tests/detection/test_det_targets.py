"""Dense per-anchor targets of one image, and float64 ground truth against float32 anchors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from det_reference import match_plain, rect2_pairs
from halcon_dl.detection import (IGNORED, NEGATIVE, POSITIVE, encode, generate_anchors,
                                 iou_rect2, match_anchors)
from halcon_dl.detection.iou import _iou_upper_bound
from halcon_dl.detection.targets import anchor_targets, batch_anchor_targets


@pytest.mark.parametrize('kind', ['rectangle1', 'rectangle2'])
def test_float64_ground_truth_is_matched_in_the_anchors_float32(kind):
    angles = [0.0, 0.7] if kind == 'rectangle2' else None
    anchors, _ = generate_anchors(48, 40, 2, 4, 2, [1.0, 2.0], angles, kind, dtype=np.float32)
    gt = (np.array([[3.3, 4.1, 20.7, 17.2], [20.0, 12.0, 41.5, 39.9]]) if kind == 'rectangle1'
          else np.array([[12.0, 10.0, 0.4, 8.3, 5.1], [30.0, 25.0, -1.2, 12.0, 6.6]]))
    classes = np.array([1, 0])
    mixed = match_anchors(anchors, gt, classes, instance_type=kind)
    same = match_anchors(anchors, gt.astype(np.float32), classes, instance_type=kind)
    for a, b in zip(mixed, same):
        np.testing.assert_array_equal(a, b)
    assert (mixed.state == POSITIVE).sum() >= 2


def test_targets_of_a_hand_made_image():
    anchors = np.array([[0.0, 0.0, 10.0, 10.0],     # IoU 1 with box 0
                        [0.0, 1.0, 10.0, 11.0],     # IoU 90/110 = 0.82 with box 0
                        [0.0, 3.0, 10.0, 13.0],     # IoU 70/130 = 0.54
                        [0.0, 5.5, 10.0, 15.5],     # IoU 45/155 = 0.29 -> negative
                        [0.0, 4.0, 10.0, 14.0],     # IoU 60/140 = 0.43 -> ignored
                        [20.0, 20.0, 30.0, 40.0]])  # IoU 0 with box 0; best anchor of box 1
    gt = np.array([[0.0, 0.0, 10.0, 10.0], [25.0, 25.0, 45.0, 45.0]])
    t = anchor_targets(anchors, gt, np.array([2, 0]), 'rectangle1')
    np.testing.assert_array_equal(t.class_index, [2, 2, 2, -1, -1, 0])
    np.testing.assert_array_equal(t.anchor_weight, [1, 1, 1, 1, 0, 1])
    np.testing.assert_array_equal(t.box_weight, [[1] * 4] * 3 + [[0] * 4] * 2 + [[1] * 4])
    expected = encode(anchors[[0, 1, 2, 5]], gt[[0, 0, 0, 1]], 'rectangle1')
    np.testing.assert_allclose(t.box_target[[0, 1, 2, 5]], expected, rtol=0, atol=0)
    np.testing.assert_array_equal(t.box_target[[3, 4]], 0)
    match = match_anchors(anchors, gt, np.array([2, 0]))
    np.testing.assert_array_equal(match.state, [POSITIVE] * 3 + [NEGATIVE, IGNORED, POSITIVE])


def test_image_without_boxes_is_all_negative_with_zero_box_weights():
    anchors, _ = generate_anchors(16, 16, 2, 3, 1, [1.0], [0.0, 1.0], 'rectangle2')
    t = anchor_targets(anchors, np.zeros((0, 5)), np.zeros(0, dtype=np.int64), 'rectangle2',
                       gt_class_ids=np.zeros(0, dtype=np.int64), class_ids_no_orientation=[4])
    np.testing.assert_array_equal(t.class_index, -1)
    np.testing.assert_array_equal(t.anchor_weight, 1)
    np.testing.assert_array_equal(t.box_weight, 0)
    assert t.box_target.shape == (anchors.shape[0], 5)


def test_orientation_free_classes_have_no_angle_target():
    anchors = np.array([[10.0, 10.0, 0.0, 5.0, 3.0], [10.0, 10.0, math.pi / 2, 5.0, 3.0]])
    gt = np.array([[10.0, 10.0, math.pi / 2, 5.0, 3.0]])     # equals anchor 1
    for flat, angle_weight in (([7], 0.0), ([], 1.0)):
        t = anchor_targets(anchors, gt, np.array([0]), 'rectangle2', gt_class_ids=np.array([7]),
                           class_ids_no_orientation=flat)
        positive = np.flatnonzero(t.class_index == 0)
        assert positive.size >= 1
        np.testing.assert_array_equal(t.box_weight[positive, 4], angle_weight)
        np.testing.assert_array_equal(t.box_weight[positive, :4], 1)
    # flat: the box becomes its axis-aligned enclosing box (rows ±5, cols ±3) with φ = 0,
    # which anchor 0 (rows ±3, cols ±5) overlaps with IoU 36/84 (ignored), anchor 1 exactly
    t = anchor_targets(anchors, gt, np.array([0]), 'rectangle2', gt_class_ids=np.array([7]),
                       class_ids_no_orientation=[7])
    np.testing.assert_array_equal(t.class_index, [-1, 0])
    np.testing.assert_allclose(t.box_target[1], [0, 0, math.log(3 / 5), math.log(5 / 3),
                                                 -math.pi / 2], atol=1e-12)


# -- the floor screen of the rotated IoU (matching reads IoUs from the negative threshold up) ----

@given(st.lists(rect2_pairs(), min_size=1, max_size=30), st.sampled_from([0.1, 0.4, 0.5, 0.9]))
@settings(max_examples=60)
def test_rotated_iou_with_floor_is_exact_from_the_floor_up(pairs, floor):
    a = np.array([p for p, _ in pairs])
    b = np.array([q for _, q in pairs])
    exact = iou_rect2(a, b)
    screened = iou_rect2(a, b, floor)
    above = exact >= floor
    np.testing.assert_array_equal(screened[above], exact[above])
    assert np.all((screened[~above] == 0) | (screened[~above] == exact[~above]))
    area_a, area_b = 4 * a[:, 3] * a[:, 4], 4 * b[:, 3] * b[:, 4]
    bound = _iou_upper_bound(a, b, area_a, area_b)
    assert bound.shape == exact.shape and np.all(bound >= exact - 1e-12)


@pytest.mark.parametrize('seed', range(3))
def test_rotated_matching_equals_the_literal_loop_on_the_full_iou_table(seed):
    """Real anchors against boxes of all sizes, one so small that its best IoU is below the
    negative threshold (its column is then computed in full for the forced match)."""
    rng = np.random.default_rng(seed)
    anchors, _ = generate_anchors(40, 40, 2, 3, 2, [1.0, 2.0], [0.0, 0.8], 'rectangle2',
                                  dtype=np.float64)
    gt = np.column_stack([rng.uniform(0, 40, (6, 2)), rng.uniform(-4, 4, 6),
                          rng.uniform(2, 16, (6, 2))])
    gt[0, 3:] = [1.0, 0.7]
    classes = np.array([0, 1, 2, 0, 1, 2])
    match = match_anchors(anchors, gt, classes, instance_type='rectangle2')
    full = iou_rect2(anchors, gt)
    assert full[:, 0].max() < 0.4
    gt_index, class_index, state = match_plain(full.tolist(), classes.tolist(), 0.5, 0.4)
    np.testing.assert_array_equal(match.gt_index, gt_index)
    np.testing.assert_array_equal(match.class_index, class_index)
    np.testing.assert_array_equal(match.state, state)


@pytest.mark.parametrize('kind', ['rectangle1', 'rectangle2'])
def test_a_batch_gives_each_image_the_targets_it_has_alone(kind):
    """The batch computes one IoU matrix for all images' boxes and splits its columns."""
    rng = np.random.default_rng(4)
    angles = [0.0, 0.9] if kind == 'rectangle2' else None
    anchors, _ = generate_anchors(40, 40, 2, 3, 2, [1.0, 2.0], angles, kind, dtype=np.float64)
    images = []
    for count in (3, 0, 5):
        centre, size = rng.uniform(0, 40, (count, 2)), rng.uniform(1, 18, (count, 2))
        boxes = (np.column_stack([centre - size, centre + size]) if kind == 'rectangle1' else
                 np.column_stack([centre, rng.uniform(-3, 3, count), size]))
        images.append((boxes, rng.integers(0, 3, count), rng.integers(5, 8, count)))
    flat = [6] if kind == 'rectangle2' else []
    batch = batch_anchor_targets(anchors, [b for b, _, _ in images], [c for _, c, _ in images],
                                 kind, gt_class_ids=[i for _, _, i in images],
                                 class_ids_no_orientation=flat)
    for k, (boxes, classes, ids) in enumerate(images):
        alone = anchor_targets(anchors, boxes, classes, kind, gt_class_ids=ids,
                               class_ids_no_orientation=flat)
        for name, value in alone._asdict().items():
            np.testing.assert_array_equal(getattr(batch, name)[k], value, err_msg=name)
    assert (batch.class_index >= 0).sum() > 0 and (batch.anchor_weight == 0).sum() > 0
