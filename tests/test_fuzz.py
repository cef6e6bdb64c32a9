"""Fuzzing the public operators with malformed input (hypothesis).

Properties, over ~700 drawn inputs:

* a valid batch with one sample made invalid (a key dropped, or a value of the wrong type, shape,
  dtype, range, or with a non-finite entry) makes ``train_dl_model_batch`` and
  ``apply_dl_model`` raise :class:`HalconDLError` naming the sample and the key, and leaves the
  model bit-identical;
* arguments that are not a sequence of sample dicts, or the wrong number of samples, likewise;
* ``set_dl_model_param`` with any name and any value either succeeds or raises HalconDLError
  leaving the model bit-identical — never another exception;
* ``create_dl_model`` with any junk in any argument either succeeds or raises HalconDLError.
"""
import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import halcon_dl as hdl
from halcon_dl.params import PARAMS
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot

IDS = [3, 5, 8]
H, W, C = 5, 6, 3
FUZZ = settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope='module')
def model():
    m = hdl.create_dl_model('classification', class_ids=IDS, image_width=W, image_height=H,
                            image_num_channels=C, batch_size=2, batch_size_multiplier=2,
                            solver_type='adam')
    hdl.train_dl_model_batch(m, random_samples(m, 4))       # optimiser state exists
    return m


def junk():
    """Values of the wrong kind for almost anything."""
    return st.one_of(
        st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12), st.complex_numbers(),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.binary(max_size=4),
        st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=2), st.none(), max_size=2),
        st.builds(object), st.just(np.float64('nan')), st.just(np.array([])))


def bad_images():
    wrong_shape = st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple).filter(
        lambda s: s != (H, W, C)).map(lambda s: np.zeros(s, np.float32))
    wrong_dtype = st.sampled_from([np.uint8, np.int32, np.int64, np.bool_, np.float16,
                                   np.complex64, object]).map(lambda d: np.zeros((H, W, C), d))
    non_finite = st.tuples(st.integers(0, H * W * C - 1),
                           st.sampled_from([np.nan, np.inf, -np.inf]),
                           st.sampled_from([np.float32, np.float64])).map(_with_non_finite)
    return st.one_of(wrong_shape, wrong_dtype, non_finite,
                     junk().filter(lambda v: not isinstance(v, np.ndarray)))


def _with_non_finite(args):
    position, value, dtype = args
    image = np.zeros(H * W * C, dtype)
    image[position] = value
    return image.reshape(H, W, C)


def bad_labels():
    return st.one_of(
        st.integers(-10 ** 6, 10 ** 6).filter(lambda v: v not in IDS),
        st.floats().filter(lambda v: not (math.isfinite(v) and v == int(v) and int(v) in IDS)),
        st.sampled_from([None, True, False, np.bool_(True), '3', b'3', [3], (3, 5), {}, 3 + 0j,
                         np.array([3, 5]), np.array([]), np.array(['3']), np.array([np.nan])]))


@st.composite
def broken_batches(draw, keys):
    """(samples, position, key): a valid batch of 4 whose sample ``position`` is broken at key."""
    samples = random_samples(hdl.create_dl_model(
        'classification', class_ids=IDS, image_width=W, image_height=H, image_num_channels=C),
        4, seed=draw(st.integers(0, 3)))
    position = draw(st.integers(0, 3))
    key = draw(st.sampled_from(keys))
    if draw(st.booleans()) and key in ('image', 'image_label_id'):
        del samples[position][key]
    else:
        samples[position][key] = draw(bad_images() if key == 'image' else bad_labels())
    return samples, position, key


def assert_rejected(call, m, samples, position, key):
    before = snapshot(m)
    with pytest.raises(hdl.HalconDLError) as err:
        call(m, samples)
    message = str(err.value)
    assert f'sample {position} (image_id {100 + position})' in message, message
    assert f"key '{key}'" in message, message
    assert_same_snapshot(before, snapshot(m))


@settings(FUZZ, max_examples=300)
@given(case=broken_batches(['image', 'image_label_id']))
def test_training_on_a_broken_sample_raises_and_changes_nothing(model, case):
    assert_rejected(hdl.train_dl_model_batch, model, *case)


@settings(FUZZ, max_examples=150)
@given(case=broken_batches(['image']))
def test_inference_on_a_broken_image_raises_and_changes_nothing(model, case):
    assert_rejected(hdl.apply_dl_model, model, *case)


@FUZZ
@given(args=st.one_of(junk().filter(lambda v: not isinstance(v, (list, str, bytes, dict))),
                      st.lists(junk().filter(lambda v: not isinstance(v, dict)), min_size=1, max_size=4),
                      st.integers(0, 9).filter(lambda n: n != 4).map(lambda n: random_samples(
                          hdl.create_dl_model('classification', class_ids=IDS, image_width=W,
                                              image_height=H, image_num_channels=C), n))))
def test_what_is_not_a_batch_of_four_sample_dicts_raises(model, args):
    before = snapshot(model)
    with pytest.raises(hdl.HalconDLError):
        hdl.train_dl_model_batch(model, args)
    assert_same_snapshot(before, snapshot(model))


@FUZZ
@given(name=st.one_of(st.sampled_from(sorted(PARAMS)), st.text(max_size=8), junk()),
       value=st.one_of(junk(), st.floats(-2, 300), st.integers(-2, 300),
                       st.lists(st.floats(-1, 2), max_size=4), st.sampled_from(
                           ['sgd', 'adam', 'cpu', 'gpu', 'float64', 'true', 'rectangle2'])))
def test_setting_any_parameter_raises_cleanly_or_works(model, name, value):
    m = copy.deepcopy(model)
    before = snapshot(m)
    try:
        hdl.set_dl_model_param(m, name, value)
    except hdl.HalconDLError:
        assert_same_snapshot(before, snapshot(m))
    else:
        assert hdl.get_dl_model_param(m, name) is not None


CREATE_ARGS = dict(class_ids=IDS, image_width=W, image_height=H, image_num_channels=C)


@FUZZ
@given(argument=st.sampled_from(['type', 'backbone', 'class_ids', 'class_names', 'image_width',
                                 'image_height', 'image_num_channels', 'seed', 'base_width',
                                 'batch_size', 'solver_type', 'class_weights', 'precision',
                                 'min_level', 'capacity']),
       value=st.one_of(junk(), st.integers(-3, 3), st.lists(st.integers(-1, 9), max_size=4)))
def test_creating_with_any_junk_raises_cleanly_or_works(argument, value):
    kwargs = dict(CREATE_ARGS)
    model_type = 'classification'
    if argument == 'type':
        model_type = value
    else:
        kwargs[argument] = value
    try:
        m = hdl.create_dl_model(model_type, **kwargs)
    except hdl.HalconDLError:
        return
    assert m.get_param('image_width') >= 1
