"""preprocess_dl_samples against independent per-pixel references: area averaging, bilinear
interpolation, nearest neighbour, value mapping, channel conversion and box rescaling; inputs
never change; every bad input raises HalconDLError naming sample and key."""
import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import halcon_dl as hdl
from halcon_dl.errors import HalconDLError
from halcon_dl.preprocess import resize_image, resize_nearest


def param(model_type='classification', width=8, height=6, channels=3, **kw):
    return hdl.create_dl_preprocess_param(model_type, width, height, channels, **kw)


def run(sample, **kw):
    return hdl.preprocess_dl_samples([sample], param(**kw))[0]


# ----------------------------------------------------------------------------- references

def area_weight(n, m, j, i):
    """Overlap of source pixel [i-0.5, i+0.5] with target pixel j's footprint, over its length."""
    s = n / m
    low, high = j * s - 0.5, (j + 1) * s - 0.5
    return max(0.0, min(i + 0.5, high) - max(i - 0.5, low)) / s


def bilinear_weight(n, m, j, i):
    """Weight of source pixel i in target pixel j: the hat function at the clamped centre."""
    u = min(max((j + 0.5) * n / m - 0.5, 0.0), n - 1.0)
    return max(0.0, 1.0 - abs(u - i))


def axis_weight(n, m, j, i):
    return area_weight(n, m, j, i) if m < n else bilinear_weight(n, m, j, i)


def direct_resize(image, h, w):
    """out[r, c] = Σ_i Σ_k a_r(i) a_c(k) I[i, k], one target pixel at a time."""
    H, W, C = image.shape
    out = np.zeros((h, w, C))
    for r in range(h):
        for c in range(w):
            for i in range(H):
                for k in range(W):
                    out[r, c] += axis_weight(H, h, r, i) * axis_weight(W, w, c, k) * image[i, k]
    return out


def bilinear_direct(image, h, w):
    """Textbook bilinear interpolation at the clamped half-pixel source coordinates."""
    H, W = image.shape[:2]
    out = np.zeros((h, w) + image.shape[2:])
    for r in range(h):
        y = min(max((r + 0.5) * H / h - 0.5, 0), H - 1)
        y0 = int(math.floor(y)); y1 = min(y0 + 1, H - 1); ty = y - y0
        for c in range(w):
            x = min(max((c + 0.5) * W / w - 0.5, 0), W - 1)
            x0 = int(math.floor(x)); x1 = min(x0 + 1, W - 1); tx = x - x0
            out[r, c] = ((1 - ty) * (1 - tx) * image[y0, x0] + (1 - ty) * tx * image[y0, x1]
                         + ty * (1 - tx) * image[y1, x0] + ty * tx * image[y1, x1])
    return out


def byte_images(draw, shape_range=(1, 9), channels=(1, 3)):
    h = draw(st.integers(*shape_range)); w = draw(st.integers(*shape_range))
    c = draw(st.sampled_from(channels))
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).integers(0, 256, (h, w, c)).astype(np.float64)


# ----------------------------------------------------------------------------- resampling

@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5),
       st.integers(1, 3), st.integers(0, 2**16))
def test_integer_factor_area_downscaling_equals_block_means_exactly(kr, kc, h, w, c, seed):
    image = np.random.default_rng(seed).integers(0, 65536, (h * kr, w * kc, c)).astype(np.float64)
    block_means = image.reshape(h, kr, w, kc, c).sum(axis=(1, 3)) / (kr * kc)
    np.testing.assert_array_equal(resize_image(image, h, w), block_means)


def test_area_weights_for_a_fractional_factor_by_hand():
    # 5 -> 3: s = 5/3; target 0 covers [-0.5, 7/6]: all of pixel 0, 2/3 of pixel 1
    x = np.array([3.0, 6.0, 9.0, 12.0, 15.0])[:, None, None]
    out = resize_image(x, 3, 1)[:, 0, 0]
    np.testing.assert_allclose(out, [(3 + 6 * 2 / 3) / (5 / 3), (6 / 3 + 9 + 12 / 3) / (5 / 3),
                                     (12 * 2 / 3 + 15) / (5 / 3)], rtol=1e-15)


def test_bilinear_two_to_four_by_hand():
    # u = clip((j+0.5)/2 - 0.5) = 0, 0.25, 0.75, 1
    out = resize_image(np.array([[[10.0], [30.0]]]), 1, 4)[0, :, 0]
    np.testing.assert_allclose(out, [10, 15, 25, 30], rtol=1e-15)


@given(st.data())
def test_bilinear_enlarging_matches_direct_evaluation(data):
    image = byte_images(data.draw)
    h = data.draw(st.integers(image.shape[0], 20)); w = data.draw(st.integers(image.shape[1], 20))
    np.testing.assert_allclose(resize_image(image, h, w), bilinear_direct(image, h, w),
                               rtol=1e-12, atol=1e-12)


@given(st.data())
def test_mixed_axes_shrink_one_enlarge_other_match_direct_evaluation(data):
    image = byte_images(data.draw, (2, 9))
    H, W = image.shape[:2]
    if data.draw(st.booleans()):
        h, w = data.draw(st.integers(1, H - 1)), data.draw(st.integers(W + 1, 14))
    else:
        h, w = data.draw(st.integers(H + 1, 14)), data.draw(st.integers(1, W - 1))
    np.testing.assert_allclose(resize_image(image, h, w), direct_resize(image, h, w),
                               rtol=1e-12, atol=1e-10)


@given(st.data())
def test_any_sizes_match_direct_evaluation_through_preprocess(data):
    image = byte_images(data.draw)
    h, w = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    c = image.shape[2]
    out = run({'image': image.astype(np.uint8)}, width=w, height=h, channels=c,
              image_range_min=0.0, image_range_max=255.0)['image']
    assert out.dtype == np.float32 and out.shape == (h, w, c)
    np.testing.assert_allclose(out, direct_resize(image, h, w), rtol=1e-6, atol=1e-4)


# ----------------------------------------------------------------------------- values, channels

@pytest.mark.parametrize('dtype, full', [(np.uint8, 255), (np.uint16, 65535)])
@pytest.mark.parametrize('low, high', [(-127.0, 128.0), (0.0, 1.0), (-1.0, 1.0)])
def test_integer_images_map_linearly_onto_the_range(dtype, full, low, high):
    values = np.array([0, 1, full // 2, full - 1, full], dtype=dtype)
    image = np.tile(values, (3, 1))
    out = run({'image': image}, width=5, height=3, channels=1,
              image_range_min=low, image_range_max=high)['image'][..., 0]
    expected = values.astype(np.float64) * (high - low) / full + low
    np.testing.assert_allclose(out, np.tile(expected, (3, 1)), rtol=1e-6, atol=1e-6 * (high - low))
    assert out[0, 0] == np.float32(low) and out[0, -1] == np.float32(high)


def test_float_images_are_taken_as_already_in_range():
    image = np.random.default_rng(0).normal(0, 500, (6, 8, 3))       # far outside [-127, 128]
    np.testing.assert_array_equal(run({'image': image})['image'], image.astype(np.float32))


def test_grey_to_three_channels_copies():
    image = np.random.default_rng(1).integers(0, 256, (6, 8)).astype(np.uint8)
    out = run({'image': image}, image_range_min=0.0, image_range_max=255.0)['image']
    for k in range(3):
        np.testing.assert_array_equal(out[..., k], image.astype(np.float32))


def test_rgb_to_grey_is_the_luminance():
    image = np.random.default_rng(2).uniform(-127, 128, (6, 8, 3))
    out = run({'image': image}, channels=1)['image']
    expected = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    np.testing.assert_allclose(out[..., 0], expected, rtol=1e-6, atol=1e-4)


def test_all_channels_stretches_each_channel_to_the_range():
    rng = np.random.default_rng(3)
    image = np.stack([rng.uniform(10, 20, (6, 8)), rng.uniform(-3, 900, (6, 8)),
                      np.full((6, 8), 7.0)], axis=2)
    out = run({'image': image}, normalization_type='all_channels')['image']
    for k in range(2):
        x = image[..., k]
        expected = (x - x.min()) * 255.0 / (x.max() - x.min()) - 127.0
        np.testing.assert_allclose(out[..., k], expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(out[..., 2], 0.5)          # no contrast: mid-range
    assert out[..., :2].min() == -127 and out[..., :2].max() == 128


def test_first_channel_applies_the_first_channels_stretch_to_all():
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    out = run({'image': image}, normalization_type='first_channel',
              image_range_min=0.0, image_range_max=1.0)['image']
    x0 = image[..., 0].astype(np.float64)
    gain = 1.0 / (x0.max() - x0.min())
    np.testing.assert_allclose(out, (image - x0.min()) * gain, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- labels, weights

@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12), st.integers(1, 12),
       st.integers(0, 2**16))
def test_label_images_nearest_neighbour_keep_only_existing_ids(H, W, h, w, seed):
    rng = np.random.default_rng(seed)
    ids = np.array([0, 3, 7, 200], dtype=np.uint8)
    labels = ids[rng.integers(0, 4, (H, W))]
    weights = rng.uniform(0, 5, (H, W))
    out = run({'image': np.zeros((H, W, 3)), 'segmentation_image': labels,
               'weight_image': weights}, model_type='segmentation', width=w, height=h)
    seg = out['segmentation_image']
    assert seg.dtype == labels.dtype and seg.shape == (h, w)
    assert set(np.unique(seg)) <= set(np.unique(labels))
    for r in range(h):
        for c in range(w):
            i, k = math.floor((r + 0.5) * H / h), math.floor((c + 0.5) * W / w)
            assert seg[r, c] == labels[i, k]
            assert out['weight_image'][r, c] == np.float32(weights[i, k])
    assert out['weight_image'].dtype == np.float32


def test_nearest_on_equal_size_is_the_identity():
    labels = np.arange(20).reshape(4, 5)
    np.testing.assert_array_equal(resize_nearest(labels, 4, 5), labels)


# ----------------------------------------------------------------------------- boxes

@st.composite
def rect1_case(draw):
    H, W, h, w = (draw(st.integers(1, 64)) for _ in range(4))
    n = draw(st.integers(0, 4))
    coords = [[draw(st.floats(-0.5, H - 1.5)), draw(st.floats(-0.5, W - 1.5))] for _ in range(n)]
    sizes = [[draw(st.floats(0.5, 5)), draw(st.floats(0.5, 5))] for _ in range(n)]
    r1 = np.array([c[0] for c in coords]); c1 = np.array([c[1] for c in coords])
    r2 = r1 + np.array([s[0] for s in sizes]); c2 = c1 + np.array([s[1] for s in sizes])
    return H, W, h, w, r1, c1, r2, c2


@given(rect1_case())
def test_rectangle1_boxes_follow_the_pixel_centre_formula(case):
    H, W, h, w, r1, c1, r2, c2 = case
    sample = {'image': np.zeros((H, W, 3)), 'bbox_row1': r1, 'bbox_col1': c1, 'bbox_row2': r2,
              'bbox_col2': c2, 'bbox_label_id': np.zeros(len(r1), np.int64)}
    out = run(sample, model_type='detection', width=w, height=h)
    for key, x, f in (('bbox_row1', r1, h / H), ('bbox_row2', r2, h / H),
                      ('bbox_col1', c1, w / W), ('bbox_col2', c2, w / W)):
        np.testing.assert_allclose(out[key], (x + 0.5) * f - 0.5, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(out['bbox_label_id'], sample['bbox_label_id'])


def test_whole_image_box_stays_the_whole_image():
    sample = {'image': np.zeros((10, 30)), 'bbox_row1': [-0.5], 'bbox_col1': [-0.5],
              'bbox_row2': [9.5], 'bbox_col2': [29.5], 'bbox_label_id': [1]}
    out = run(sample, model_type='detection', width=7, height=4, channels=1)
    assert [out[k][0] for k in ('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2')] \
        == [-0.5, -0.5, 3.5, 6.5]


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 8), st.integers(1, 8),
       st.lists(st.tuples(st.floats(-1, 40), st.floats(-1, 40), st.floats(-3.2, 3.2),
                          st.floats(0.1, 9), st.floats(0.1, 9)), max_size=4))
def test_rectangle2_boxes_scale_about_the_image_corner(p, q, a, b, boxes):
    H, W, h, w = a * p, a * q, b * p, b * q                    # equal factors f = b/a
    f = b / a
    cols = [np.array(c, dtype=np.float64) for c in zip(*boxes)] or [np.zeros(0)] * 5
    keys = ('bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1', 'bbox_length2')
    sample = dict(zip(keys, cols), image=np.zeros((H, W, 3)), bbox_label_id=[0] * len(boxes))
    out = run(sample, model_type='detection', width=w, height=h, instance_type='rectangle2')
    for key, value in zip(keys, cols):
        expected = {'bbox_row': (value + 0.5) * f - 0.5, 'bbox_col': (value + 0.5) * f - 0.5,
                    'bbox_phi': value}.get(key, value * f)
        np.testing.assert_allclose(out[key], expected, rtol=1e-12, atol=1e-12)


def test_rectangle2_with_unequal_factors_is_refused():
    sample = {'image': np.zeros((10, 10, 3)), 'bbox_row': [4.0], 'bbox_col': [4.0],
              'bbox_phi': [0.3], 'bbox_length1': [2.0], 'bbox_length2': [1.0],
              'bbox_label_id': [0]}
    with pytest.raises(HalconDLError, match='equal factors'):
        run(sample, model_type='detection', width=8, height=6, instance_type='rectangle2')


# ----------------------------------------------------------------------------- no mutation

def deep_equal(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(deep_equal, a, b))
    return type(a) is type(b) and a == b


def test_inputs_are_unchanged_and_outputs_share_nothing():
    rng = np.random.default_rng(5)
    samples = [{'image': rng.integers(0, 256, (9, 11, 3)).astype(np.uint8), 'image_id': 4,
                'segmentation_image': rng.integers(0, 3, (9, 11)), 'weight_image': np.ones((9, 11)),
                'bbox_row1': [1.0], 'bbox_col1': [2.0], 'bbox_row2': [5.0], 'bbox_col2': [6.0],
                'bbox_label_id': [2], 'extra': {'nested': [1, 2]}},
               {'image': rng.uniform(-100, 100, (6, 8)), 'image_label_id': 1}]
    before = copy.deepcopy(samples)
    out = hdl.preprocess_dl_samples(samples, param('detection', channels=3))
    assert deep_equal(samples, before)
    assert out[0] is not samples[0] and out[0]['extra'] is not samples[0]['extra']
    out[0]['extra']['nested'].append(3)
    out[0]['bbox_label_id'].append(9)
    assert deep_equal(samples, before)
    assert list(out[0]) == list(samples[0])                    # same keys, same order


# ----------------------------------------------------------------------------- parameters

def test_parameters_from_a_classification_model_and_overrides():
    model = hdl.create_dl_model('classification', class_ids=[3, 5], image_width=20,
                                image_height=10, image_num_channels=1, image_range_min=0,
                                image_range_max=1)
    p = hdl.create_dl_preprocess_param_from_model(model, normalization_type='all_channels')
    assert p == {'model_type': 'classification', 'image_width': 20, 'image_height': 10,
                 'image_num_channels': 1, 'image_range_min': 0.0, 'image_range_max': 1.0,
                 'normalization_type': 'all_channels', 'domain_handling': 'full_domain'}
    for bad in ({'model_type': 'detection'}, {'instance_type': 'rectangle2'}, {'colour': 1},
                {'ignore_class_ids': [1]}, {'image_width': 0}, {'normalization_type': 'z'}):
        with pytest.raises(HalconDLError, match=next(iter(bad))):
            hdl.create_dl_preprocess_param_from_model(model, **bad)
    with pytest.raises(HalconDLError, match='create_dl_model'):
        hdl.create_dl_preprocess_param_from_model({'image_width': 3})


def test_type_specific_keys():
    assert param('segmentation')['ignore_class_ids'] == []
    assert param('segmentation', ignore_class_ids=(255,))['ignore_class_ids'] == [255]
    assert param('detection')['instance_type'] == 'rectangle1'
    assert 'ignore_class_ids' not in param('detection') and 'instance_type' not in param()
    with pytest.raises(HalconDLError, match='segmentation models only'):
        param('classification', ignore_class_ids=[1])
    with pytest.raises(HalconDLError, match='detection models only'):
        param('segmentation', instance_type='rectangle2')


BAD_PARAMS = [
    ({'model_type': 'anomaly_detection'}, 'model_type'),
    ({'image_width': 2.5}, 'image_width'),
    ({'image_num_channels': True}, 'image_num_channels'),
    ({'image_range_min': 200.0}, 'image_range_min'),
    ({'image_range_max': float('nan')}, 'image_range_max'),
    ({'normalization_type': 'constant_values'}, "'constant_values' is not supported"),
    ({'domain_handling': 'crop_domain'}, 'no domain region'),
    ({'augmentation': True}, r"unknown \['augmentation'\]"),
]


@pytest.mark.parametrize('change, message', BAD_PARAMS)
def test_bad_parameter_dicts_are_refused(change, message):
    p = dict(param(), **change)
    with pytest.raises(HalconDLError, match=message):
        hdl.preprocess_dl_samples([{'image': np.zeros((6, 8, 3))}], p)


def test_missing_parameter_key_is_named():
    p = param(); del p['image_height']
    with pytest.raises(HalconDLError, match=r"missing \['image_height'\]"):
        hdl.preprocess_dl_samples([{'image': np.zeros((6, 8, 3))}], p)


# ----------------------------------------------------------------------------- bad samples

def good():
    return {'image': np.zeros((6, 8, 3), np.uint8), 'image_id': 17,
            'segmentation_image': np.zeros((6, 8), np.int32), 'weight_image': np.ones((6, 8)),
            'bbox_row1': [1.0], 'bbox_col1': [1.0], 'bbox_row2': [2.0], 'bbox_col2': [3.0],
            'bbox_label_id': [0]}


BAD_SAMPLES = [
    ('image', None, 'missing'),
    ('image', [[0, 1]], 'array'),
    ('image', np.zeros((6, 8, 3), np.int32), 'uint8, uint16 or float.*already in that range'),
    ('image', np.zeros((6, 8, 3), bool), 'uint8, uint16 or float'),
    ('image', np.zeros((6, 8, 4), np.uint8), r'alpha channel first: image\[\.\.\., :3\]'),
    ('image', np.zeros((6, 8, 2), np.uint8), 'channel'),
    ('image', np.zeros((0, 8, 3), np.uint8), 'non-empty'),
    ('image', np.zeros((2, 6, 8, 3), np.uint8), 'shape'),
    ('image', np.full((6, 8, 3), np.nan), 'NaN'),
    ('segmentation_image', np.zeros((8, 6), np.int32), r'shape \(6, 8\)'),
    ('segmentation_image', np.full((6, 8), 0.5), 'integral'),
    ('segmentation_image', np.full((6, 8), -1), '>= 0'),
    ('segmentation_image', np.zeros((6, 8), bool), 'numeric'),
    ('weight_image', np.full((6, 8), -0.1), '>= 0'),
    ('weight_image', np.full((6, 8), np.inf), 'infinite'),
    ('bbox_row2', [2.0, 3.0], r'length of bbox_row1 \(1\).*got 2'),
    ('bbox_label_id', [0, 1], r'length of bbox_row1 \(1\).*got 2'),
    ('bbox_row2', [0.5], 'bbox_row1 < bbox_row2'),
    ('bbox_col1', ['a'], '1-D sequence'),
    ('bbox_col1', [np.nan], 'finite'),
    ('bbox_phi', [0.0], "instance type 'rectangle2'"),
]


@pytest.mark.parametrize('key, value, message', BAD_SAMPLES)
def test_bad_samples_name_the_sample_and_key(key, value, message):
    bad = good()
    if value is None:
        del bad[key]
    else:
        bad[key] = value
    with pytest.raises(HalconDLError, match=f"sample 1 \\(image_id 17\\): key '{key}': .*{message}"):
        hdl.preprocess_dl_samples([good(), bad], param('detection'))


def test_bad_containers():
    with pytest.raises(HalconDLError, match='wrap a single sample'):
        hdl.preprocess_dl_samples(good(), param('detection'))
    with pytest.raises(HalconDLError, match='sample 0: expected a dict'):
        hdl.preprocess_dl_samples([3], param('detection'))
    with pytest.raises(HalconDLError, match='parameter dict'):
        hdl.preprocess_dl_samples([good()], None)
