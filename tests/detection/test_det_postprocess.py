"""Post-processing of one image's outputs: threshold, top-k per level, decode, clip, NMS."""
import math

import numpy as np
import pytest

from halcon_dl.detection.postprocess import detect, top_candidates


def grid_anchors(n, size=4.0):
    """n disjoint size×size rectangle1 anchors in a row: (0, 10k, size, 10k + size)."""
    cols = 10.0 * np.arange(n)
    return np.stack([np.zeros(n), cols, np.full(n, size), cols + size], axis=1)


def test_top_candidates_keeps_the_best_k_pairs_at_or_above_the_threshold():
    scores = np.array([[0.1, 0.9], [0.5, 0.7], [0.7, 0.2], [0.3, 0.5]])
    a, c, s = top_candidates(scores, 0.5, 10)
    assert list(zip(a, c)) == [(0, 1), (1, 0), (1, 1), (2, 0), (3, 1)]       # >= 0.5, flat order
    a, c, s = top_candidates(scores, 0.5, 3)
    # 0.9 first; 0.7 twice (ties: lower flat index a·K + c first: (1, 1) = 3 before (2, 0) = 4)
    assert list(zip(a, c)) == [(0, 1), (1, 1), (2, 0)]
    np.testing.assert_array_equal(s, [0.9, 0.7, 0.7])
    assert top_candidates(scores, 0.95, 3)[0].shape == (0,)


def test_only_the_top_k_of_each_level_reach_nms():
    level1 = np.linspace(0.6, 0.95, 8)[:, None]          # 8 candidates, one class
    level2 = np.array([[0.55], [0.2], [0.65]])
    deltas1, deltas2 = np.zeros((8, 4)), np.zeros((3, 4))
    anchors1, anchors2 = grid_anchors(8), grid_anchors(3) + [100, 0, 100, 0]
    boxes, classes, scores = detect(
        [(level1, deltas1), (level2, deltas2)], [anchors1, anchors2], instance_type='rectangle1',
        image_height=200, image_width=200, min_confidence=0.5, max_overlap=0.5,
        max_overlap_class_agnostic=1.0, max_num_detections=100, top_k=3)
    np.testing.assert_allclose(scores, [0.95, level1[6, 0], level1[5, 0], 0.65, 0.55])
    np.testing.assert_allclose(boxes, np.concatenate([anchors1[[7, 6, 5]], anchors2[[2, 0]]]))
    np.testing.assert_array_equal(classes, 0)


def test_rectangle1_boxes_are_clipped_and_boxes_outside_dropped():
    anchors = np.array([[-5.0, -5.0, 5.0, 5.0], [8.0, 8.0, 14.0, 14.0], [20.0, 1.0, 30.0, 3.0]])
    conf = np.array([[0.9], [0.8], [0.7]])
    boxes, classes, scores = detect(
        [(conf, np.zeros((3, 4)))], [anchors], instance_type='rectangle1', image_height=12,
        image_width=10, min_confidence=0.5, max_overlap=0.5, max_overlap_class_agnostic=1.0,
        max_num_detections=10)
    # the third box lies below the image (rows 20..30 > 11.5): no area left, dropped
    np.testing.assert_allclose(boxes, [[-0.5, -0.5, 5.0, 5.0], [8.0, 8.0, 11.5, 9.5]])
    np.testing.assert_allclose(scores, [0.9, 0.8])


def test_decoded_overlapping_boxes_are_suppressed_within_their_class_only():
    anchors = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 20.0, 10.0, 30.0]])
    # anchor 1 moved left by 2 widths onto anchor 0's place: IoU 1 with anchor 0's box
    deltas = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, -2.0, 0.0, 0.0]])
    conf = np.array([[0.9, 0.1], [0.8, 0.7]])
    boxes, classes, scores = detect(
        [(conf, deltas)], [anchors], instance_type='rectangle1', image_height=50,
        image_width=50, min_confidence=0.5, max_overlap=0.5, max_overlap_class_agnostic=1.0,
        max_num_detections=10)
    np.testing.assert_array_equal(classes, [0, 1])         # class 0's copy of anchor 1 is gone
    np.testing.assert_allclose(boxes, [[0, 0, 10, 10], [0, 0, 10, 10]])
    np.testing.assert_allclose(scores, [0.9, 0.7])


def test_rectangle2_boxes_are_not_clipped_and_flat_classes_get_angle_zero():
    anchors = np.array([[0.0, 0.0, 0.3, 6.0, 2.0], [30.0, 30.0, 0.3, 6.0, 2.0]])
    conf = np.array([[0.9, 0.0], [0.0, 0.8]])
    deltas = np.array([[0, 0, 0, 0, 0.2], [0, 0, 0, 0, 0.2]])
    boxes, classes, _ = detect(
        [(conf, deltas)], [anchors], instance_type='rectangle2', image_height=20,
        image_width=20, min_confidence=0.5, max_overlap=0.5, max_overlap_class_agnostic=1.0,
        max_num_detections=10, no_orientation_classes=[1])
    np.testing.assert_array_equal(classes, [0, 1])
    np.testing.assert_allclose(boxes, [[0, 0, 0.5, 6, 2], [30, 30, 0.0, 6, 2]])


def test_max_num_detections_keeps_the_most_confident():
    anchors = grid_anchors(5)
    conf = np.array([[0.6], [0.9], [0.7], [0.8], [0.65]])
    _, _, scores = detect(
        [(conf, np.zeros((5, 4)))], [anchors], instance_type='rectangle1', image_height=10,
        image_width=60, min_confidence=0.5, max_overlap=0.5, max_overlap_class_agnostic=1.0,
        max_num_detections=2)
    np.testing.assert_allclose(scores, [0.9, 0.8])


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_results_keep_the_dtype(dtype):
    anchors = grid_anchors(2).astype(dtype)
    conf = np.array([[0.9], [0.6]], dtype=dtype)
    boxes, classes, scores = detect(
        [(conf, np.zeros((2, 4), dtype=dtype))], [anchors], instance_type='rectangle1',
        image_height=10, image_width=30, min_confidence=0.5, max_overlap=0.5,
        max_overlap_class_agnostic=1.0, max_num_detections=5)
    assert boxes.dtype == dtype and scores.dtype == dtype and classes.dtype.kind == 'i'
    assert math.isclose(float(scores[0]), 0.9, rel_tol=1e-6)
