"""The embedded shapes data set: determinism, sample format, geometry, masks and boxes."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halcon_dl.datasets import (SHAPE_CLASS_NAMES, ShapeSpec, default_dataset, make_shape_specs,
                                make_shapes_dataset, rectangle1_of_mask, rectangle2_of_mask,
                                render_image, render_sample, shape_mask, train_validation_split)
from halcon_dl.datasets import shapes as shapes_module
from halcon_dl.errors import HalconDLError

GREY = (255.0,)


def spec(shape, row=100.0, col=100.0, size=160.0, phi=0.0, fg=GREY, bg=(0.0,)):
    return ShapeSpec(shape, row, col, size, phi, fg, bg)


def pixel_centres(mask):
    rows, cols = np.nonzero(mask)
    return rows.astype(np.float64), cols.astype(np.float64)


def assert_samples_equal(a, b):
    assert len(a) == len(b)
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for key in sa:
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
            assert np.asarray(sa[key]).dtype == np.asarray(sb[key]).dtype


# ----------------------------------------------------------------------------- determinism

def test_same_seed_gives_bit_identical_samples():
    kw = dict(image_size=40, seed=7, with_segmentation=True, with_boxes='rectangle2')
    assert_samples_equal(make_shapes_dataset(25, **kw), make_shapes_dataset(25, **kw))


def test_different_seed_gives_different_samples():
    a = make_shapes_dataset(30, image_size=32, seed=1)
    b = make_shapes_dataset(30, image_size=32, seed=2)
    assert [s['image_label_id'] for s in a] != [s['image_label_id'] for s in b]
    assert not any(np.array_equal(sa['image'], sb['image']) for sa, sb in zip(a, b))


def test_specs_are_the_geometry_of_the_data_set():
    kw = dict(image_size=48, num_channels=1, seed=3)
    specs = make_shape_specs(20, **kw)
    samples = make_shapes_dataset(20, **kw, noise=0.0, with_segmentation=True)
    background_id = len(SHAPE_CLASS_NAMES)
    for sp, sample in zip(specs, samples):
        assert SHAPE_CLASS_NAMES.index(sp.shape) == sample['image_label_id']
        np.testing.assert_array_equal(shape_mask(sp, 48, 48),
                                      sample['segmentation_image'] != background_id)


# ----------------------------------------------------------------------------- sample format

@pytest.mark.parametrize('num_channels, value_range', [(3, (-127.0, 128.0)), (1, (0.0, 1.0)),
                                                        (2, (-1.0, 1.0))])
def test_keys_shapes_dtypes_and_value_range(num_channels, value_range):
    lo, hi = value_range
    samples = make_shapes_dataset(13, image_size=36, num_channels=num_channels, seed=4,
                                  value_range=value_range, noise=40.0)
    expected_shape = (36, 36) if num_channels == 1 else (36, 36, num_channels)
    assert [s['image_id'] for s in samples] == list(range(13))
    for s in samples:
        assert set(s) == {'image', 'image_label_id', 'image_id'}
        image = s['image']
        assert image.shape == expected_shape and image.dtype == np.float32
        assert lo <= image.min() and image.max() <= hi
        assert type(s['image_label_id']) is int and type(s['image_id']) is int
        assert s['image_label_id'] in range(len(SHAPE_CLASS_NAMES))
        levels = (image.astype(np.float64) - lo) * 255.0 / (hi - lo)   # a byte image, mapped
        np.testing.assert_allclose(levels, np.rint(levels), atol=1e-3 * 255 / (hi - lo) + 1e-3)
    clipped = np.concatenate([s['image'].ravel() for s in samples])
    assert (clipped == np.float32(lo)).any()                       # noise 40 reaches the clip


def test_segmentation_and_box_keys():
    ids = (10, 3, 7, 20, 5, 1)
    s1 = make_shapes_dataset(6, image_size=32, class_ids=ids, with_segmentation=True,
                             with_boxes='rectangle1')
    s2 = make_shapes_dataset(6, image_size=32, class_ids=ids, with_boxes='rectangle2',
                             background_class_id=0)
    for s in s1:
        seg = s['segmentation_image']
        assert seg.shape == (32, 32) and seg.dtype == np.int32
        assert set(np.unique(seg)) == {s['image_label_id'], 21}     # default: max(ids) + 1
        for key in ('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2'):
            assert s[key].shape == (1,) and s[key].dtype == np.float64
        assert s['bbox_label_id'].tolist() == [s['image_label_id']]
        assert s['bbox_label_id'].dtype == np.int64
    for s in s2:
        assert 'segmentation_image' not in s and 'bbox_row1' not in s
        for key in ('bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1', 'bbox_length2'):
            assert s[key].shape == (1,) and s[key].dtype == np.float64
        assert s['bbox_length1'][0] > 0 and s['bbox_length2'][0] > 0


def test_classes_balanced_shuffled_and_mapped_to_ids():
    ids = (4, 9, 2, 11, 0, 6)
    samples = make_shapes_dataset(62, image_size=32, class_ids=ids, seed=5)
    labels = [s['image_label_id'] for s in samples]
    counts = [labels.count(i) for i in ids]
    assert sum(counts) == 62 and max(counts) - min(counts) <= 1
    assert labels != [ids[i % 6] for i in range(62)]                # shuffled by the seed
    specs = make_shape_specs(62, image_size=32, seed=5)
    assert labels == [ids[SHAPE_CLASS_NAMES.index(sp.shape)] for sp in specs]


def test_class_names_select_a_subset():
    samples = make_shapes_dataset(8, image_size=32, class_names=('star', 'circle'),
                                  class_ids=(5, 6))
    specs = make_shape_specs(8, image_size=32, class_names=('star', 'circle'))
    assert sorted(s['image_label_id'] for s in samples) == [5] * 4 + [6] * 4
    assert {sp.shape for sp in specs} == {'star', 'circle'}


def test_colours_contrast_and_polarity():
    bright = make_shape_specs(200, image_size=32, seed=8)
    for sp in bright:
        fg, bg = np.array(sp.foreground), np.array(sp.background)
        assert np.all((fg >= 128) & (fg <= 255) & (bg >= 0) & (bg <= 96))
        assert np.all(fg == np.rint(fg)) and np.all(bg == np.rint(bg))
        assert (fg - bg).mean() >= shapes_module.MIN_CONTRAST
    mixed = make_shape_specs(200, image_size=32, seed=8, polarity='random')
    dark_shapes = sum(np.mean(sp.foreground) < np.mean(sp.background) for sp in mixed)
    assert 60 < dark_shapes < 140
    assert all(abs(np.mean(sp.foreground) - np.mean(sp.background)) >= 60 for sp in mixed)


def test_sizes_angles_and_placement():
    specs = make_shape_specs(300, image_size=64, seed=9)
    sizes = np.array([sp.size for sp in specs])
    phis = np.array([sp.phi for sp in specs])
    assert 12.0 <= sizes.min() < 14.0 and 38.0 < sizes.max() <= 40.0
    assert -math.pi <= phis.min() < -2.8 and 2.8 < phis.max() < math.pi
    for sp in specs:                    # the circumscribed disk stays 1 px inside the image
        assert sp.circumradius + 0.5 <= min(sp.row, sp.col, 63 - sp.row, 63 - sp.col) + 1e-9
        mask = shape_mask(sp, 64, 64)
        assert mask.any() and not (mask[0].any() or mask[-1].any()
                                   or mask[:, 0].any() or mask[:, -1].any())
    assert all(sp.phi == 0.0 for sp in make_shape_specs(20, image_size=32, rotate=False))


# ----------------------------------------------------------------------------- geometry

# Filled area / area of the axis-aligned box of the mask, at phi = 0, from closed forms.
_STAR_RATIO = (5 * 0.45 * math.sin(math.pi / 5)
               / (2 * math.sin(2 * math.pi / 5) * (1 + math.cos(math.pi / 5))))
AREA_RATIO = {'circle': math.pi / 4, 'square': 1.0, 'triangle': 0.5,
              'cross': 2 * 0.4 - 0.4 ** 2, 'ring': math.pi / 4 * (1 - 0.5 ** 2),
              'star': _STAR_RATIO}


def test_area_ratio_table_separates_the_classes():
    ratios = sorted(AREA_RATIO.values())
    assert min(b - a for a, b in zip(ratios, ratios[1:])) > 0.04
    assert set(AREA_RATIO) == set(SHAPE_CLASS_NAMES)


@pytest.mark.parametrize('shape', SHAPE_CLASS_NAMES)
def test_each_class_renders_its_own_geometry(shape):
    mask = shape_mask(spec(shape, row=100.3, col=99.8, size=170.0), 201, 201)
    rows, cols = pixel_centres(mask)
    box_area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert mask.sum() / box_area == pytest.approx(AREA_RATIO[shape], abs=0.015)
    assert mask[100, 100] == (shape != 'ring')              # only the ring has a hole


def test_rotation_is_counter_clockwise_as_displayed():
    # Triangle apex (local +y) points up at phi = 0, left at phi = +pi/2, down at phi = pi.
    s, h = 50.0, 50.0 * math.sqrt(3)                # half size and height of the triangle
    for phi, (r_lo, c_lo, r_hi, c_hi) in [
            (0.0, (-2 * h / 3, -s, h / 3, s)),
            (math.pi / 2, (-s, -2 * h / 3, s, h / 3)),
            (math.pi, (-h / 3, -s, 2 * h / 3, s)),
            (-math.pi / 2, (-s, -h / 3, s, 2 * h / 3))]:
        mask = shape_mask(spec('triangle', 100.0, 100.0, 2 * s, phi), 201, 201)
        rows, cols = pixel_centres(mask)
        got = (rows.min() - 100, cols.min() - 100, rows.max() - 100, cols.max() - 100)
        np.testing.assert_allclose(got, (r_lo, c_lo, r_hi, c_hi), atol=1.0, err_msg=str(phi))


def test_rotated_square_is_a_diamond():
    mask = shape_mask(spec('square', size=100.0, phi=math.pi / 4), 201, 201)
    rows, cols = pixel_centres(mask)
    half_diagonal = 50.0 * math.sqrt(2)
    assert rows.max() - rows.min() == pytest.approx(2 * half_diagonal, abs=2.0)
    assert mask.sum() / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1)) == pytest.approx(0.5, abs=0.015)


def test_vertices_follow_the_axes_convention():
    sp = spec('square', row=10.0, col=20.0, size=4.0, phi=0.3)
    (ur, uc), (vr, vc) = sp.axes()
    np.testing.assert_allclose((ur, uc, vr, vc), (-math.sin(0.3), math.cos(0.3),
                                                  -math.cos(0.3), -math.sin(0.3)))
    first = sp.vertices()[0]                                    # local (1, 1) · half size 2
    np.testing.assert_allclose(first, (10 + 2 * (ur + vr), 20 + 2 * (uc + vc)))
    assert spec('circle').vertices() is None


shape_specs = st.builds(
    ShapeSpec, st.sampled_from(SHAPE_CLASS_NAMES),
    st.floats(20.0, 40.0), st.floats(20.0, 44.0), st.floats(3.0, 24.0),
    st.floats(-math.pi, math.pi, exclude_max=True), st.just(GREY), st.just((0.0,)))


def _tip_slack(half_angle):
    # Any disk of radius √2/2 holds a pixel centre; inside a tip of half-angle α such a disk
    # fits at distance d = (√2/2)/sin α from the apex, so a pixel centre lies within
    # d·(1 + sin α) of the apex.
    return math.sqrt(0.5) * (1 + math.sin(half_angle)) / math.sin(half_angle)


_STAR_TIP = math.atan2(0.45 * math.sin(math.pi / 5), 1 - 0.45 * math.cos(math.pi / 5))
EXTENT_SLACK = {'circle': 1.0, 'ring': 1.0, 'square': _tip_slack(math.pi / 4),
                'cross': _tip_slack(math.pi / 4), 'triangle': _tip_slack(math.pi / 6),
                'star': _tip_slack(_STAR_TIP)}


@settings(max_examples=60)
@given(shape_specs.filter(lambda sp: sp.size >= 10))
def test_mask_agrees_with_the_geometric_extent(sp):
    mask = shape_mask(sp, 60, 64)                               # not square: rows != cols
    rows, cols = pixel_centres(mask)
    verts = sp.vertices()
    if verts is None:
        radius = 0.5 * sp.size
        lo, hi = np.array([sp.row, sp.col]) - radius, np.array([sp.row, sp.col]) + radius
    else:
        lo, hi = verts.min(axis=0), verts.max(axis=0)
    got_lo = np.array([rows.min(), cols.min()])
    got_hi = np.array([rows.max(), cols.max()])
    assert np.all(got_lo >= lo - 1e-9) and np.all(got_hi <= hi + 1e-9)
    slack = EXTENT_SLACK[sp.shape]
    assert np.all(got_lo - lo <= slack) and np.all(hi - got_hi <= slack)


# ----------------------------------------------------------------------------- masks, boxes

def test_segmentation_matches_the_rendered_pixels_without_noise():
    lo, hi = -127.0, 128.0
    samples = make_shapes_dataset(24, image_size=40, seed=11, noise=0.0,
                                  with_segmentation=True)
    specs = make_shape_specs(24, image_size=40, seed=11)
    for sp, s in zip(specs, samples):
        inside = s['segmentation_image'] != len(SHAPE_CLASS_NAMES)
        assert np.all(s['segmentation_image'][inside] == s['image_label_id'])
        fg = np.float32(np.array(sp.foreground) * (hi - lo) / 255 + lo)
        bg = np.float32(np.array(sp.background) * (hi - lo) / 255 + lo)
        np.testing.assert_allclose(s['image'][inside], np.broadcast_to(fg, (inside.sum(), 3)),
                                   atol=1e-4)
        np.testing.assert_allclose(s['image'][~inside],
                                   np.broadcast_to(bg, ((~inside).sum(), 3)), atol=1e-4)
        assert np.all(np.abs(s['image'][inside] - bg).max(axis=-1) > 0)


def test_noise_changes_pixels_but_not_the_mask():
    clean = make_shapes_dataset(5, image_size=32, seed=12, noise=0.0, with_segmentation=True)
    noisy = make_shapes_dataset(5, image_size=32, seed=12, noise=10.0, with_segmentation=True)
    for c, n in zip(clean, noisy):
        np.testing.assert_array_equal(c['segmentation_image'], n['segmentation_image'])
        diff = n['image'] - c['image']          # grey levels: the default range spans 255
        assert 6.0 < diff.std() < 14.0


@settings(max_examples=60)
@given(shape_specs)
def test_rectangle1_box_encloses_the_mask_tightly(sp):
    mask = shape_mask(sp, 60, 64)
    rows, cols = pixel_centres(mask)
    row1, col1, row2, col2 = rectangle1_of_mask(mask)
    assert row1 < rows.min() and rows.max() < row2 and col1 < cols.min() and cols.max() < col2
    assert (rows.min() - row1, cols.min() - col1, row2 - rows.max(), col2 - cols.max()) == (
        0.5, 0.5, 0.5, 0.5)


@settings(max_examples=60)
@given(shape_specs)
def test_rectangle2_box_encloses_the_mask_tightly(sp):
    mask = shape_mask(sp, 60, 64)
    rows, cols = pixel_centres(mask)
    row, col, phi, l1, l2 = rectangle2_of_mask(mask, sp.phi)
    assert -math.pi <= phi < math.pi and math.isclose(math.cos(phi), math.cos(sp.phi),
                                                      abs_tol=1e-12)
    assert math.isclose(math.sin(phi), math.sin(sp.phi), abs_tol=1e-12)
    u = np.array([-math.sin(phi), math.cos(phi)])
    v = np.array([-math.cos(phi), -math.sin(phi)])
    d = np.stack([rows - row, cols - col], axis=1)
    s, t = d @ u, d @ v
    assert np.all(np.abs(s) <= l1 - 0.5 + 1e-9) and np.all(np.abs(t) <= l2 - 0.5 + 1e-9)
    for proj, length in ((s, l1), (t, l2)):                      # every side touches a pixel
        assert length - 0.5 - proj.max() < 1e-9 and proj.min() + length - 0.5 < 1e-9


def test_rectangle2_equals_rectangle1_at_angle_zero():
    kw = dict(image_size=48, seed=13, rotate=False)
    r1 = make_shapes_dataset(12, with_boxes='rectangle1', **kw)
    r2 = make_shapes_dataset(12, with_boxes='rectangle2', **kw)
    for a, b in zip(r1, r2):
        row1, col1, row2, col2 = (a[k][0] for k in ('bbox_row1', 'bbox_col1',
                                                    'bbox_row2', 'bbox_col2'))
        assert b['bbox_phi'][0] == 0.0
        np.testing.assert_allclose(
            [b['bbox_row'][0], b['bbox_col'][0], b['bbox_length1'][0], b['bbox_length2'][0]],
            [(row1 + row2) / 2, (col1 + col2) / 2, (col2 - col1) / 2, (row2 - row1) / 2],
            atol=1e-12)
        np.testing.assert_array_equal(a['image'], b['image'])


def test_rectangle2_of_a_rotated_square_matches_its_side():
    sp = spec('square', size=100.0, phi=0.6)
    row, col, phi, l1, l2 = rectangle2_of_mask(shape_mask(sp, 201, 201), sp.phi)
    assert phi == 0.6
    np.testing.assert_allclose([row, col, l1, l2], [100.0, 100.0, 50.0, 50.0], atol=1.0)


def test_shapes_cut_by_the_border_and_empty_masks():
    partial = shape_mask(spec('circle', row=-3.0, col=10.0, size=16.0), 20, 30)
    assert partial.any() and not partial[6:].any()
    assert rectangle1_of_mask(partial)[0] == -0.5
    empty = shape_mask(spec('square', row=-30.0, col=10.0, size=8.0), 20, 30)
    assert not empty.any()
    with pytest.raises(HalconDLError, match='no pixel'):
        rectangle1_of_mask(empty)


def test_render_sample_direct_use():
    sp = spec('cross', row=15.0, col=16.0, size=20.0, fg=(200.0, 180.0), bg=(10.0, 20.0))
    s = render_sample(sp, 42, 30, 32, with_segmentation=True, background_class_id=0,
                      with_boxes='rectangle1', image_id=9, value_range=(0.0, 255.0))
    assert s['image'].shape == (30, 32, 2) and s['image_id'] == 9
    assert set(np.unique(s['image'][..., 0])) == {10.0, 200.0}
    assert set(np.unique(s['segmentation_image'])) == {0, 42}
    with pytest.raises(HalconDLError, match='background_class_id'):
        render_sample(sp, 42, 30, 32, with_segmentation=True)
    with pytest.raises(HalconDLError, match='rng'):
        render_image(sp, 30, 32, noise=5.0)


# ----------------------------------------------------------------------------- split

def test_split_is_stratified_disjoint_complete_and_deterministic():
    samples = make_shapes_dataset(100, image_size=32, seed=14, class_names=SHAPE_CLASS_NAMES[:4])
    train, val = train_validation_split(samples, 0.3, seed=1)
    assert len(train) + len(val) == 100
    ids_t, ids_v = [s['image_id'] for s in train], [s['image_id'] for s in val]
    assert not set(ids_t) & set(ids_v) and sorted(ids_t + ids_v) == list(range(100))
    assert ids_t == sorted(ids_t) and ids_v == sorted(ids_v)          # input order kept
    assert all(any(s is t for t in samples) for s in val)             # same objects
    for label in range(4):
        n_class = sum(s['image_label_id'] == label for s in samples)   # 25 each
        n_val = sum(s['image_label_id'] == label for s in val)
        assert n_val == math.floor(0.3 * n_class + 0.5)
    again = train_validation_split(samples, 0.3, seed=1)
    assert [s['image_id'] for s in again[1]] == ids_v
    other = train_validation_split(samples, 0.3, seed=2)
    assert [s['image_id'] for s in other[1]] != ids_v


def test_default_dataset():
    train, val = default_dataset()
    assert (len(train), len(val)) == (2400, 600)
    for part, per_class in ((train, 400), (val, 100)):
        labels = [s['image_label_id'] for s in part]
        assert [labels.count(i) for i in range(6)] == [per_class] * 6
    assert train[0]['image'].shape == (64, 64, 3) and train[0]['image'].dtype == np.float32
    assert {s['image_id'] for s in train} | {s['image_id'] for s in val} == set(range(3000))


# ----------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize('kwargs, message', [
    (dict(num_samples=0), 'num_samples'),
    (dict(num_samples=2.0), 'num_samples'),
    (dict(num_samples=True), 'num_samples'),
    (dict(image_size=31), 'image_size'),
    (dict(num_channels=0), 'num_channels'),
    (dict(class_ids=(0, 1, 2)), 'one ID per class'),
    (dict(class_ids=(0, 1, 2, 3, 4, 4)), 'distinct'),
    (dict(class_ids=(0, 1, 2, 3, 4, -5)), 'integers >= 0'),
    (dict(class_ids=(0, 1, 2, 3, 4, 5.0)), 'integers >= 0'),
    (dict(class_names=('circle', 'hexagon')), 'class_names'),
    (dict(class_names=('circle', 'circle')), 'class_names'),
    (dict(with_boxes='polygon'), 'with_boxes'),
    (dict(with_boxes=True), 'with_boxes'),
    (dict(noise=-1.0), 'noise'),
    (dict(noise=float('nan')), 'noise'),
    (dict(value_range=(1.0, 1.0)), 'value_range'),
    (dict(value_range=(0.0,)), 'value_range'),
    (dict(size_range=(1.0, 10.0)), 'size_range'),
    (dict(size_range=(10.0, 50.0)), 'size_range'),
    (dict(size_range=(20.0, 10.0)), 'size_range'),
    (dict(polarity='dark'), 'polarity'),
    (dict(background_class_id=3), 'background_class_id'),
])
def test_bad_arguments_raise(kwargs, message):
    kwargs = {'num_samples': 4, **kwargs}
    with pytest.raises(HalconDLError, match=message):
        make_shapes_dataset(**kwargs)


@pytest.mark.parametrize('args, message', [
    (([],), 'no samples'),
    (([{'image_id': 0}],), 'image_label_id'),
    (([{'image_label_id': 0}], 0.0), 'validation_fraction'),
    (([{'image_label_id': 0}], 1.0), 'validation_fraction'),
    (([{'image_label_id': 0}], '0.2'), 'validation_fraction'),
])
def test_bad_split_arguments_raise(args, message):
    with pytest.raises(HalconDLError, match=message):
        train_validation_split(*args)
