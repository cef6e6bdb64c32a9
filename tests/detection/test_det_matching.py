"""Anchor matching: against a literal loop, its invariants, images without boxes, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from det_reference import iou_rect1_plain, match_plain, rect1_boxes, rect2_boxes
from halcon_dl.detection import (IGNORED, NEGATIVE, POSITIVE, iou_rect2, match_anchors)
from halcon_dl.errors import HalconDLError

thresholds = st.tuples(st.sampled_from([0.3, 0.4, 0.5, 0.7]), st.sampled_from([0.0, 0.1, 0.2, 0.3]))


def test_state_encoding_constants():
    assert (POSITIVE, NEGATIVE, IGNORED) == (1, 0, -1)


@given(st.lists(rect1_boxes(-8, 8), min_size=1, max_size=25),
       st.lists(st.tuples(rect1_boxes(-8, 8), st.integers(0, 4)), min_size=0, max_size=5),
       thresholds)
def test_rectangle1_matching_equals_literal_loop(anchors, boxes, thresholds):
    positive, negative = thresholds
    gt = np.array([b for b, _ in boxes]).reshape(-1, 4)
    classes = np.array([c for _, c in boxes], dtype=np.int64)
    match = match_anchors(np.array(anchors), gt, classes, positive, negative)
    iou = [[iou_rect1_plain(a, b) for b, _ in boxes] for a in anchors]
    gt_index, class_index, state = match_plain(iou, list(classes), positive, negative)
    np.testing.assert_array_equal(match.gt_index, gt_index)
    np.testing.assert_array_equal(match.class_index, class_index)
    np.testing.assert_array_equal(match.state, state)


@given(st.lists(rect2_boxes(), min_size=1, max_size=12),
       st.lists(rect2_boxes(), min_size=1, max_size=4), thresholds)
@settings(max_examples=50)
def test_matching_invariants_rectangle2(anchors, boxes, thresholds):
    positive, negative = thresholds
    anchors, gt = np.array(anchors), np.array(boxes)
    classes = np.arange(len(boxes)) + 10
    match = match_anchors(anchors, gt, classes, positive, negative, instance_type='rectangle2')
    iou = iou_rect2(anchors, gt)
    best = iou.max(axis=1)
    forced = np.zeros(len(anchors), dtype=bool)
    for j in range(len(boxes)):
        top = iou[:, j].max()
        if top > 0:
            on_top = iou[:, j] == top
            forced |= on_top
            assert np.all(match.state[on_top] == POSITIVE)          # best anchors forced
    free = ~forced
    np.testing.assert_array_equal(match.state[free & (best >= positive)], POSITIVE)
    np.testing.assert_array_equal(match.state[free & (best < negative)], NEGATIVE)
    np.testing.assert_array_equal(match.state[free & (best >= negative) & (best < positive)],
                                  IGNORED)
    pos = match.state == POSITIVE
    assert np.all(match.gt_index[pos] >= 0) and np.all(match.gt_index[~pos] == -1)
    np.testing.assert_array_equal(match.class_index[pos], classes[match.gt_index[pos]])
    np.testing.assert_array_equal(match.class_index[~pos], -1)
    # a free positive anchor is matched to a box of maximal IoU
    rows = np.nonzero(pos & free)[0]
    np.testing.assert_array_equal(iou[rows, match.gt_index[rows]], best[rows])


def test_forced_anchor_takes_the_box_it_overlaps_most():
    anchors = np.array([[0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 110.0, 110.0]])
    gt = np.array([[0.0, 0.0, 10.0, 40.0],     # IoU 0.25 with anchor 0, its best anchor
                   [0.0, 0.0, 10.0, 20.0],     # IoU 0.5 with anchor 0
                   [0.0, 5.0, 10.0, 15.0]])    # IoU 1/3 with anchor 0
    match = match_anchors(anchors, gt, np.array([7, 8, 9]), positive=0.6, negative=0.4)
    np.testing.assert_array_equal(match.state, [POSITIVE, NEGATIVE])
    np.testing.assert_array_equal(match.gt_index, [1, -1])
    np.testing.assert_array_equal(match.class_index, [8, -1])


def test_thresholds_at_equality():
    # IoU ≥ positive is positive, IoU ≥ negative (and < positive) is ignored; all IoUs exact
    gt = np.array([[0.0, 0.0, 2.0, 2.0]])
    anchors = np.array([[0.0, 0.0, 2.0, 2.0],     # IoU 1 (the forced best anchor)
                        [0.0, 0.0, 2.0, 1.0],     # IoU 0.5 = positive
                        [0.0, 0.0, 2.0, 0.75],    # IoU 0.375
                        [0.0, 0.0, 1.0, 1.0],     # IoU 0.25 = negative
                        [0.0, 0.0, 1.0, 0.5]])    # IoU 0.125
    match = match_anchors(anchors, gt, np.array([4]), positive=0.5, negative=0.25)
    np.testing.assert_array_equal(match.state, [POSITIVE, POSITIVE, IGNORED, IGNORED, NEGATIVE])
    np.testing.assert_array_equal(match.class_index, [4, 4, -1, -1, -1])


def test_ties_at_the_best_iou_are_all_forced():
    anchors = np.array([[0.0, 0.0, 4.0, 4.0], [0.0, 4.0, 4.0, 8.0], [50.0, 50.0, 54.0, 54.0]])
    gt = np.array([[0.0, 2.0, 4.0, 6.0]])      # IoU 1/3 with anchors 0 and 1
    match = match_anchors(anchors, gt, np.array([3]))
    np.testing.assert_array_equal(match.state, [POSITIVE, POSITIVE, NEGATIVE])
    np.testing.assert_array_equal(match.gt_index, [0, 0, -1])


@pytest.mark.parametrize('kind, width', [('rectangle1', 4), ('rectangle2', 5)])
def test_image_without_boxes_is_all_negative(kind, width):
    anchors = np.ones((6, width))
    match = match_anchors(anchors, np.zeros((0, width)), np.zeros(0, dtype=np.int64),
                          instance_type=kind)
    np.testing.assert_array_equal(match.state, NEGATIVE)
    np.testing.assert_array_equal(match.gt_index, -1)
    np.testing.assert_array_equal(match.class_index, -1)
    assert match.state.dtype == np.int64


def test_no_anchors_gives_empty_results():
    match = match_anchors(np.zeros((0, 5)), np.ones((2, 5)), np.array([0, 1]),
                          instance_type='rectangle2')
    assert all(x.shape == (0,) for x in match)


@pytest.mark.parametrize('call', [
    lambda: match_anchors(np.ones((3, 4)), np.ones((2, 4)), np.array([0, 1, 2])),
    lambda: match_anchors(np.ones((3, 4)), np.ones((2, 4)), np.array([0.0, 1.0])),
    lambda: match_anchors(np.ones((3, 4)), np.ones((2, 5)), np.array([0, 1])),
    lambda: match_anchors(np.ones((3, 4)), np.ones((2, 4)), np.array([0, 1]), 0.3, 0.5),
    lambda: match_anchors(np.ones((3, 4)), np.ones((2, 4)), np.array([0, 1]),
                          instance_type='rect'),
])
def test_bad_matching_input_raises(call):
    with pytest.raises(HalconDLError):
        call()
