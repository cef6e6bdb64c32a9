"""Scenes of several shapes: reproducible, labels consistent with the pixels, boxes from the
visible parts, empty images and border-cut shapes present."""
import numpy as np
import pytest

from halcon_dl import HalconDLError
from halcon_dl.datasets.scenes import make_shapes_scenes, random_split
from halcon_dl.datasets.shapes import rectangle1_of_mask


def test_same_seed_same_scenes_and_other_seed_other_scenes():
    a = make_shapes_scenes(6, 32, seed=4, with_segmentation=True, with_boxes='rectangle2')
    b = make_shapes_scenes(6, 32, seed=4, with_segmentation=True, with_boxes='rectangle2')
    c = make_shapes_scenes(6, 32, seed=5, with_segmentation=True, with_boxes='rectangle2')
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert np.array_equal(x[k], y[k]), k
    assert not all(np.array_equal(x['image'], y['image']) for x, y in zip(a, c))


def test_segmentation_labels_match_the_noise_free_pixels():
    scenes = make_shapes_scenes(20, 32, seed=1, noise=0.0, with_segmentation=True,
                                value_range=(0.0, 255.0))
    for s in scenes:
        seg, image = s['segmentation_image'], s['image']
        assert seg.dtype == np.int32 and seg.shape == (32, 32)
        assert set(np.unique(seg)) <= set(range(7))
        background = image[seg == 0]
        if background.size == 0:
            continue
        assert (background == background[0]).all()     # one colour everywhere outside the shapes
        shapes = image[seg != 0]                      # and a different one on every shape pixel
        assert not np.any(np.all(shapes == background[0], axis=-1))


def test_without_overlap_boxes_are_those_of_each_shapes_pixels():
    scenes = make_shapes_scenes(30, 48, seed=2, overlap=False, with_boxes='rectangle1',
                                with_segmentation=True, class_ids=[1, 2, 3, 4, 5, 6])
    counts = []
    for s in scenes:
        n = len(s['bbox_label_id'])
        counts.append(n)
        assert all(len(s[k]) == n for k in ('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2'))
        assert s['bbox_row1'].dtype == np.float64 and s['bbox_label_id'].dtype == np.int64
        for j in range(n):
            r1, c1, r2, c2 = (s[k][j] for k in ('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2'))
            assert -0.5 <= r1 < r2 <= 47.5 and -0.5 <= c1 < c2 <= 47.5
            inside = s['segmentation_image'][int(r1 + 0.5):int(r2 + 0.5), int(c1 + 0.5):int(c2 + 0.5)]
            assert np.any(inside == s['bbox_label_id'][j])
        if n == 1:                                     # a lone shape: its box is its pixels' box
            mask = s['segmentation_image'] != 0
            assert rectangle1_of_mask(mask) == tuple(s[k][0] for k in
                                                     ('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2'))
    assert 0 in counts and max(counts) >= 3           # empty images and busy ones


def test_some_shapes_are_cut_by_the_border():
    scenes = make_shapes_scenes(40, 32, seed=3, with_boxes='rectangle1')
    touching = sum(int(np.sum((s['bbox_row1'] == -0.5) | (s['bbox_col1'] == -0.5)
                              | (s['bbox_row2'] == 31.5) | (s['bbox_col2'] == 31.5)))
                   for s in scenes)
    assert touching > 0


def test_rectangle2_boxes_and_grey_images():
    s = make_shapes_scenes(10, 32, num_channels=1, seed=6, with_boxes='rectangle2', min_shapes=1)
    assert all(x['image'].shape == (32, 32) and x['image'].dtype == np.float32 for x in s)
    assert all((x['bbox_length1'] > 0).all() and (x['bbox_length2'] > 0).all() for x in s)
    assert all(((x['bbox_phi'] >= -np.pi) & (x['bbox_phi'] < np.pi)).all() for x in s)


@pytest.mark.parametrize('kwargs', [dict(min_shapes=3, max_shapes=2), dict(max_shapes=-1),
                                    dict(with_boxes='circle'), dict(size_range=(1, 5)),
                                    dict(with_segmentation=True, background_class_id=1),
                                    dict(num_samples=0)])
def test_bad_arguments_raise(kwargs):
    args = dict(num_samples=2, image_size=32)
    args.update(kwargs)
    with pytest.raises(HalconDLError):
        make_shapes_scenes(**args)


def test_random_split_is_a_seeded_partition():
    items = [{'image_id': i} for i in range(50)]
    train, val = random_split(items, 0.2, seed=1)
    assert len(val) == 10 and len(train) == 40
    assert sorted(x['image_id'] for x in train + val) == list(range(50))
    assert random_split(items, 0.2, seed=1)[1] == val != random_split(items, 0.2, seed=2)[1]
