"""Segmentation measures against a hand-computed example and a brute-force pixel loop."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from halcon_dl import HalconDLError
from halcon_dl.evaluation import SegmentationEvaluation

NAN = math.nan


def test_hand_example():
    """Class IDs [1, 2, 3, 4] (4 never occurs), ignore ID 0.

    truth          prediction      counted pixels (truth -> predicted)
    1 1 2          1 2 2           1->1, 1->2, 2->2
    2 2 0          2 1 3           2->2, 2->1   (the ignored pixel predicted 3 is left out)
    3 0 0          1 1 1           3->1

    Confusion (rows predicted, columns truth, order 1 2 3 4):
    pred 1: [1 1 1 0]  pred 2: [1 2 0 0]  pred 3: [0 0 0 0]  pred 4: [0 0 0 0]
    G = (2, 3, 1, 0), P = (3, 3, 0, 0), T = (1, 2, 0, 0), N = 6.
    pixel accuracy 3/6; class accuracy 1/2, 2/3, 0/1, NaN; IoU 1/4, 2/4, 0/1, NaN;
    frequency weighted IoU = (2·1/4 + 3·2/4 + 1·0)/6 = 1/3.
    """
    ev = SegmentationEvaluation([1, 2, 3, 4], ignore_class_ids=[0])
    ev.add(np.array([[1, 1, 2], [2, 2, 0], [3, 0, 0]]),
           np.array([[1, 2, 2], [2, 1, 3], [1, 1, 1]], dtype=np.uint8))
    m = ev.measures()
    np.testing.assert_array_equal(m['pixel_confusion_matrix'],
                                  [[1, 1, 1, 0], [1, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert m['pixel_accuracy'] == pytest.approx(0.5)
    np.testing.assert_allclose(m['class_pixel_accuracy'], [1 / 2, 2 / 3, 0, NAN])
    np.testing.assert_allclose(m['class_iou'], [1 / 4, 1 / 2, 0, NAN])
    assert m['mean_accuracy'] == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert m['mean_iou'] == pytest.approx((1 / 4 + 1 / 2) / 3)
    assert m['frequency_weighted_iou'] == pytest.approx(1 / 3)


def reference(class_ids, ignore, pairs):
    """Brute force over every pixel, from the definitions."""
    k = len(class_ids)
    conf = [[0] * k for _ in range(k)]
    for truth, pred in pairs:
        for g, p in zip(truth.ravel().tolist(), pred.ravel().tolist()):
            if g in ignore:
                continue
            conf[class_ids.index(p)][class_ids.index(g)] += 1
    gt = [sum(conf[p][c] for p in range(k)) for c in range(k)]
    pr = [sum(conf[c][g] for g in range(k)) for c in range(k)]
    n = sum(gt)
    acc, iou = [], []
    for c in range(k):
        if gt[c] + pr[c] == 0:
            acc.append(NAN), iou.append(NAN)
        else:
            acc.append(conf[c][c] / gt[c] if gt[c] else 0.0)
            iou.append(conf[c][c] / (gt[c] + pr[c] - conf[c][c]))
    mean = lambda v: sum(x for x in v if not math.isnan(x)) / sum(1 for x in v if not math.isnan(x))
    return {'pixel_confusion_matrix': conf,
            'pixel_accuracy': sum(conf[c][c] for c in range(k)) / n if n else NAN,
            'class_pixel_accuracy': acc, 'class_iou': iou,
            'mean_accuracy': mean(acc) if n or any(pr) else NAN,
            'mean_iou': mean(iou) if n or any(pr) else NAN,
            'frequency_weighted_iou': (sum(gt[c] / n * iou[c] for c in range(k) if gt[c])
                                       if n else NAN)}


@st.composite
def segmentation_data(draw):
    k = draw(st.integers(1, 4))
    ids = draw(st.lists(st.integers(0, 300), min_size=k + 2, max_size=k + 2, unique=True))
    class_ids, ignore = ids[:k], ids[k:k + draw(st.integers(0, 2))]
    images = []
    for _ in range(draw(st.integers(1, 4))):
        shape = draw(st.tuples(st.integers(1, 5), st.integers(1, 5)))
        truth = draw(hnp.arrays(np.int64, shape, elements=st.sampled_from(class_ids + ignore)))
        pred = draw(hnp.arrays(np.int32, shape, elements=st.sampled_from(class_ids)))
        images.append((truth, pred))
    return class_ids, ignore, images


@settings(max_examples=80)
@given(segmentation_data(), st.randoms(use_true_random=False))
def test_against_brute_force_and_invariances(data, random):
    class_ids, ignore, images = data
    want = reference(class_ids, ignore, images)
    ev = SegmentationEvaluation(class_ids, ignore)
    for truth, pred in images:
        ev.add(truth, pred)
    got = ev.measures()
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-12, atol=0, err_msg=key)
    # reordered images, and arbitrary predictions on ignored pixels: the same measures
    shuffled = images[:]
    random.shuffle(shuffled)
    again = SegmentationEvaluation(class_ids, ignore)
    for truth, pred in shuffled:
        pred = np.where(np.isin(truth, ignore), random.choice(class_ids), pred)
        again.add(truth.astype(np.float64), pred)       # float label images with integral values
    for key, value in again.measures().items():
        np.testing.assert_array_equal(value, got[key], err_msg=key)


def test_only_ignored_pixels_give_nan_without_warnings():
    ev = SegmentationEvaluation([1, 2], ignore_class_ids=[0])
    ev.add(np.zeros((2, 2), int), np.ones((2, 2), int))
    m = ev.measures()
    assert np.isnan(m['pixel_accuracy']) and np.isnan(m['mean_iou'])
    assert np.isnan(m['class_iou']).all() and not m['pixel_confusion_matrix'].any()


def test_errors_name_sample_and_key():
    ev = SegmentationEvaluation([1, 2], ignore_class_ids=[0])
    with pytest.raises(HalconDLError, match=r"sample 3: key 'segmentation_image'.*shape"):
        ev.update([{'segmentation_image': np.ones((2, 2))}],
                  [{'segmentation_image': np.ones((2, 3))}], start=3)
    with pytest.raises(HalconDLError, match=r'sample 0: .*segmentation_image.*\[0.5, 7.0\]'):
        ev.update([{'segmentation_image': np.array([[1, 0.5], [7, 2]])}],
                  [{'segmentation_image': np.ones((2, 2), int)}])
    with pytest.raises(HalconDLError, match=r'segmentation_image \(result\).*\[0\]'):
        ev.add(np.ones((1, 1), int), np.zeros((1, 1), int))   # ignore IDs are not predictions
    with pytest.raises(HalconDLError, match="unknown measure 'mean_ap'"):
        ev.measures('mean_ap')
