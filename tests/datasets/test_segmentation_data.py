"""Class weights from pixel frequencies (against a hand-computed example), weight images, and
the embedded segmentation data set."""
import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.datasets import (SEGMENTATION_CLASS_IDS, SEGMENTATION_CLASS_NAMES,
                                default_segmentation_dataset)
from halcon_dl.datasets import segmentation as segdata


def hand_samples():
    """30 pixels: ID 0 x 18, ID 1 x 6, ID 2 x 3, ID 7 x 3, over two images of different sizes."""
    a = np.zeros((4, 5), np.int32)          # 20 px: 0 x 12, 1 x 5, 7 x 3
    a[0, :5] = 1
    a[3, 2:] = 7
    b = np.zeros((2, 5), np.uint8)          # 10 px: 0 x 6, 1 x 1, 2 x 3
    b[1, :3] = 2
    b[0, 4] = 1
    return [{'segmentation_image': a}, {'segmentation_image': b.astype(np.float64)}]


def test_class_weights_against_a_hand_computed_example():
    # not ignored: 27 pixels, f = 18/27, 6/27, 3/27; w_c = (f_0 + 1e-4) / (f_c + 1e-4), <= 4
    f0, f1, f2 = 2 / 3, 2 / 9, 1 / 9
    w1 = (f0 + 0.0001) / (f1 + 0.0001)                 # 2.99910...
    w2 = (f0 + 0.0001) / (f2 + 0.0001)                 # 5.99550... -> clipped at 4
    assert 2.99 < w1 < 3.0 and w2 > 4
    weights = hdl.calculate_dl_segmentation_class_weights(hand_samples(), 4, ignore_class_ids=[7])
    assert weights == pytest.approx([1.0, w1, 4.0, 0.0], rel=1e-15)     # IDs 0, 1, 2, 7
    assert all(type(w) is float for w in weights)


def test_class_weights_for_given_class_ids_include_absent_classes():
    weights = hdl.calculate_dl_segmentation_class_weights(hand_samples(), 100.0, [7],
                                                          class_ids=[2, 0, 5, 1])
    f0 = 2 / 3
    assert weights == pytest.approx([(f0 + 1e-4) / (1 / 9 + 1e-4), 1.0, 100.0,
                                     (f0 + 1e-4) / (2 / 9 + 1e-4)], rel=1e-15)
    big = hdl.calculate_dl_segmentation_class_weights(hand_samples(), 1e9, [7], class_ids=[0, 1, 2, 5])
    assert big[3] == pytest.approx((f0 + 1e-4) / 1e-4, rel=1e-15)


def test_without_ignored_ids_every_pixel_counts_and_a_small_cap_clips_the_most_frequent():
    weights = hdl.calculate_dl_segmentation_class_weights(hand_samples(), 0.5)
    f0, f7 = 18 / 30, 3 / 30
    assert weights[0] == 0.5 and weights[3] == 0.5
    weights = hdl.calculate_dl_segmentation_class_weights(hand_samples(), 50)
    assert weights[3] == pytest.approx((f0 + 1e-4) / (f7 + 1e-4), rel=1e-15)


@pytest.mark.parametrize('kwargs, message', [
    (dict(max_weight=0), 'max_weight'), (dict(max_weight=float('nan')), 'max_weight'),
    (dict(max_weight='5'), 'max_weight'), (dict(max_weight=True), 'max_weight'),
    (dict(max_weight=5, ignore_class_ids=[1.5]), 'ignore_class_ids'),
    (dict(max_weight=5, class_ids=[0, 1]), r'IDs \[2, 7\] that are neither'),
    (dict(max_weight=5, class_ids=[0, 0, 1]), 'class_ids'),
    (dict(max_weight=5, ignore_class_ids=[0, 1, 2, 7]), 'no pixel'),
])
def test_class_weight_arguments_are_checked(kwargs, message):
    with pytest.raises(hdl.HalconDLError, match=message):
        hdl.calculate_dl_segmentation_class_weights(hand_samples(), **kwargs)


def test_bad_label_image_names_the_sample():
    samples = hand_samples()
    samples[1]['segmentation_image'] = samples[1]['segmentation_image'] + 0.5
    with pytest.raises(hdl.HalconDLError, match="sample 1: key 'segmentation_image': expected "
                                                'integral class IDs'):
        hdl.calculate_dl_segmentation_class_weights(samples, 5)
    with pytest.raises(hdl.HalconDLError, match="sample 0: key 'segmentation_image': missing"):
        hdl.gen_dl_segmentation_weight_images([{}], [0], [1.0])


def test_weight_images_hold_the_class_weight_of_every_pixel_and_zero_elsewhere():
    samples = hand_samples()
    kept = [{k: v.copy() for k, v in s.items()} for s in samples]
    out = hdl.gen_dl_segmentation_weight_images(samples, [0, 1, 2], [0.25, 2.0, 3.5])
    for s, o, k in zip(samples, out, kept):
        seg = s['segmentation_image']
        expected = np.select([seg == 0, seg == 1, seg == 2], [0.25, 2.0, 3.5], 0.0)
        assert o['weight_image'].dtype == np.float32 and o['weight_image'].shape == seg.shape
        np.testing.assert_array_equal(o['weight_image'], expected.astype(np.float32))
        assert o['segmentation_image'] is seg and 'weight_image' not in s     # inputs unchanged
        np.testing.assert_array_equal(seg, k['segmentation_image'])


@pytest.mark.parametrize('class_ids, weights', [([0, 1], [1.0]), ([0, 1], [1.0, -1.0]),
                                                ([0, 1], [1.0, float('inf')]), ([0, 0], [1, 1]),
                                                ([0, -1], [1, 1]), ([0, 1], ['a', 1])])
def test_weight_image_arguments_are_checked(class_ids, weights):
    with pytest.raises(hdl.HalconDLError, match='class_weights|class_ids'):
        hdl.gen_dl_segmentation_weight_images(hand_samples(), class_ids, weights)


def test_default_segmentation_dataset_is_seeded_and_split(monkeypatch):
    monkeypatch.setattr(segdata, 'SEGMENTATION_NUM_SAMPLES', 60)      # the rule, not the size
    train, val = default_segmentation_dataset(seed=3)
    again, _ = default_segmentation_dataset(seed=3)
    assert len(train) + len(val) == segdata.SEGMENTATION_NUM_SAMPLES
    assert len(val) == round(0.2 * (len(train) + len(val)))
    size = segdata.SEGMENTATION_IMAGE_SIZE
    assert SEGMENTATION_CLASS_NAMES[0] == 'background' and len(SEGMENTATION_CLASS_NAMES) == 7
    seen = set()
    for s, t in zip(train, again):
        assert s['image'].shape == (size, size, 3) and s['image'].dtype == np.float32
        assert s['segmentation_image'].shape == (size, size)
        np.testing.assert_array_equal(s['image'], t['image'])
        seen |= set(np.unique(s['segmentation_image']).tolist())
    assert seen == set(SEGMENTATION_CLASS_IDS)
    assert {s['image_id'] for s in train}.isdisjoint({s['image_id'] for s in val})
