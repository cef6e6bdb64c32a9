"""NMS: against a literal greedy loop, the suppression invariant, order, limits and errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from det_reference import greedy_nms_plain, iou_rect1_plain, rect1_boxes, rect2_boxes
from halcon_dl.detection import iou_rect2, nms
from halcon_dl.errors import HalconDLError

overlaps = st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0])
scores_st = st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9])      # few values: many ties


@st.composite
def detections(draw, box_strategy):
    n = draw(st.integers(0, 14))
    boxes = draw(st.lists(box_strategy, min_size=n, max_size=n))
    scores = draw(st.lists(scores_st, min_size=n, max_size=n))
    classes = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    return boxes, scores, classes


@given(detections(rect1_boxes(-6, 6)), overlaps, overlaps, st.integers(0, 15))
def test_rectangle1_nms_equals_greedy_loop(dets, max_overlap, agnostic, max_num):
    boxes, scores, classes = dets
    kept = nms(np.array(boxes).reshape(-1, 4), np.array(scores), np.array(classes, dtype=np.int64),
               max_overlap, agnostic, max_num)
    expected = greedy_nms_plain(scores, classes, lambda i, j: iou_rect1_plain(boxes[i], boxes[j]),
                                max_overlap, agnostic, max_num)
    assert kept.dtype == np.int64
    assert kept.tolist() == expected


@given(detections(rect2_boxes()), overlaps, overlaps, st.integers(1, 15))
@settings(max_examples=50)
def test_rectangle2_nms_equals_greedy_loop_and_keeps_apart(dets, max_overlap, agnostic, max_num):
    boxes, scores, classes = dets
    boxes = np.array(boxes).reshape(-1, 5)
    iou = iou_rect2(boxes, boxes)
    kept = nms(boxes, np.array(scores), np.array(classes, dtype=np.int64), max_overlap, agnostic,
               max_num, instance_type='rectangle2')
    expected = greedy_nms_plain(scores, classes, lambda i, j: iou[i, j], max_overlap, agnostic,
                                max_num)
    assert kept.tolist() == expected
    for x, i in enumerate(kept):
        for j in kept[x + 1:]:
            if classes[i] == classes[j] and max_overlap < 1:
                assert iou[i, j] <= max_overlap
            if agnostic < 1:
                assert iou[i, j] <= agnostic
    kept_scores = np.array(scores)[kept]
    assert np.all(np.diff(kept_scores) <= 0)


def test_nms_hand_example():
    boxes = np.array([[0.0, 0.0, 10.0, 10.0],     # 0: class 1, 0.9
                      [0.0, 1.0, 10.0, 11.0],     # 1: class 1, 0.8, IoU 90/110 with 0
                      [0.0, 5.0, 10.0, 15.0],     # 2: class 1, 0.7, IoU 50/150 = 1/3 with 0
                      [0.0, 0.0, 10.0, 10.0],     # 3: class 2, 0.95, same box as 0
                      [50.0, 50.0, 60.0, 60.0]])  # 4: class 2, 0.7 (tie with 2: lower index)
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.7])
    classes = np.array([1, 1, 1, 2, 2])
    assert nms(boxes, scores, classes, 0.5).tolist() == [3, 0, 2, 4]
    # an IoU equal to the threshold survives (strict >): IoU 50/100 = 0.5
    half = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]])   # IoU 50/100
    assert nms(half, np.array([0.9, 0.8]), np.array([0, 0]), 0.5).tolist() == [0, 1]
    assert nms(half, np.array([0.9, 0.8]), np.array([0, 0]), 0.49).tolist() == [0]
    # class-agnostic pass removes box 0 (same box as 3, other class)
    assert nms(boxes, scores, classes, 0.5, 0.5).tolist() == [3, 2, 4]
    assert nms(boxes, scores, classes, 0.5, max_num_detections=2).tolist() == [3, 0]


def test_nms_without_boxes():
    kept = nms(np.zeros((0, 5)), np.zeros(0), np.zeros(0, dtype=np.int64), 0.5,
               instance_type='rectangle2')
    assert kept.shape == (0,) and kept.dtype == np.int64


@pytest.mark.parametrize('call', [
    lambda: nms(np.zeros((2, 4)), np.zeros(3), np.zeros(2, dtype=int), 0.5),
    lambda: nms(np.zeros((2, 4)), np.zeros(2), np.zeros(2), 0.5),
    lambda: nms(np.zeros((2, 4)), np.zeros(2), np.zeros(2, dtype=int), 1.5),
    lambda: nms(np.zeros((2, 4)), np.zeros(2), np.zeros(2, dtype=int), 0.5, -0.1),
    lambda: nms(np.zeros((2, 4)), np.zeros(2), np.zeros(2, dtype=int), 0.5, 1.0, -1),
    lambda: nms(np.zeros((2, 4)), np.array([0.5, np.nan]), np.zeros(2, dtype=int), 0.5),
    lambda: nms(np.zeros((2, 4)), np.zeros(2, dtype=np.float32), np.zeros(2, dtype=int), 0.5),
    lambda: nms(np.zeros((2, 5)), np.zeros(2), np.zeros(2, dtype=int), 0.5),
])
def test_bad_nms_input_raises(call):
    with pytest.raises(HalconDLError):
        call()
