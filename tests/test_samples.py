"""Every input violation of SPEC §3 raises HalconDLError naming the sample and the key, and a
rejected call changes nothing in the model."""
import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot


def make():
    m = hdl.create_dl_model('classification', class_ids=[10, 20, 30], image_width=6,
                            image_height=5, image_num_channels=3, batch_size=3)
    hdl.train_dl_model_batch(m, random_samples(m, 3))      # optimiser state and stats exist
    return m


def set_key(key, value):
    def mutate(sample):
        sample[key] = value
    return mutate


def drop(key):
    return lambda sample: sample.pop(key)


VIOLATIONS = [
    ('missing image', drop('image'), 'image', 'missing'),
    ('missing label', drop('image_label_id'), 'image_label_id', 'missing'),
    ('image transposed', set_key('image', np.zeros((6, 5, 3), np.float32)), 'image', r'shape \(5, 6, 3\)'),
    ('image one channel', set_key('image', np.zeros((5, 6), np.float32)), 'image', 'shape'),
    ('image 4 channels', set_key('image', np.zeros((5, 6, 4), np.float32)), 'image', 'shape'),
    ('image bytes', set_key('image', np.zeros((5, 6, 3), np.uint8)), 'image', 'dtype float32'),
    ('image float16', set_key('image', np.zeros((5, 6, 3), np.float16)), 'image', 'dtype float32'),
    ('image list', set_key('image', [[0.0]]), 'image', 'array'),
    ('image nan', set_key('image', np.full((5, 6, 3), np.nan, np.float32)), 'image', 'NaN'),
    ('image inf', set_key('image', np.full((5, 6, 3), -np.inf, np.float32)), 'image', 'infinite'),
    ('label index not id', set_key('image_label_id', 1), 'image_label_id', r'\[10, 20, 30\], got 1'),
    ('label fractional', set_key('image_label_id', 10.5), 'image_label_id', 'integer'),
    ('label string', set_key('image_label_id', '10'), 'image_label_id', 'integer'),
    ('label bool', set_key('image_label_id', True), 'image_label_id', 'integer'),
    ('label two ids', set_key('image_label_id', np.array([10, 20])), 'image_label_id', 'one ID'),
    ('label nan', set_key('image_label_id', float('nan')), 'image_label_id', 'integer'),
    ('label inf', set_key('image_label_id', np.float32('inf')), 'image_label_id', 'integer'),
    ('label -inf array', set_key('image_label_id', np.array([-np.inf])), 'image_label_id', 'integer'),
    ('label none', set_key('image_label_id', None), 'image_label_id', 'integer'),
]


@pytest.mark.parametrize('what, mutate, key, message', VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
@pytest.mark.parametrize('operator', ['train', 'apply'])
def test_violation_names_sample_and_key_and_changes_nothing(what, mutate, key, message, operator):
    if operator == 'apply' and key == 'image_label_id':
        return                                     # inference does not need labels
    m = make()
    samples = random_samples(m, 3, seed=5)
    mutate(samples[1])                             # image_id 101, position 1
    before = snapshot(m)
    call = hdl.train_dl_model_batch if operator == 'train' else hdl.apply_dl_model
    with pytest.raises(hdl.HalconDLError, match=message) as err:
        call(m, samples)
    assert 'sample 1 (image_id 101)' in str(err.value)
    assert f"key '{key}'" in str(err.value)
    assert_same_snapshot(before, snapshot(m))


def test_position_names_a_sample_without_image_id():
    m = make()
    samples = random_samples(m, 3)
    del samples[2]['image_id']
    samples[2]['image_label_id'] = 99
    with pytest.raises(hdl.HalconDLError, match=r"^sample 2: key 'image_label_id'"):
        hdl.train_dl_model_batch(m, samples)


def test_a_sample_that_is_not_a_dict_is_rejected():
    m = make()
    samples = random_samples(m, 3)
    samples[0] = ('image', samples[0]['image'])
    with pytest.raises(hdl.HalconDLError, match='sample 0: expected a sample dict'):
        hdl.train_dl_model_batch(m, samples)


def test_accepted_forms_of_valid_input():
    m = make()
    samples = random_samples(m, 3)
    samples[0]['image_label_id'] = np.int64(20)          # NumPy integer
    samples[1]['image_label_id'] = np.array([30])         # one-element array
    samples[2]['image_label_id'] = 10.0                   # integral float
    samples[2]['image'] = samples[2]['image'].astype(np.float64)
    assert np.isfinite(hdl.train_dl_model_batch(m, samples)['total_loss'])
    gray = hdl.create_dl_model('classification', class_ids=[0, 1], image_width=6, image_height=5,
                               image_num_channels=1, batch_size=2)
    two_d = [{'image': np.zeros((5, 6), np.float32), 'image_label_id': i} for i in (0, 1)]
    assert np.isfinite(hdl.train_dl_model_batch(gray, two_d)['total_loss'])


@pytest.mark.parametrize('operator', ['train', 'apply'])
@pytest.mark.parametrize('samples, message', [
    (None, 'expected a sequence of sample dicts, got NoneType'),
    (42, 'expected a sequence of sample dicts, got int'),
    ('abc', 'expected a sequence of sample dicts, got str'),
    ({'image': np.zeros((5, 6, 3), np.float32), 'image_label_id': 10},
     'expected a sequence of sample dicts, got one dict'),
    ([None], 'sample 0: expected a sample dict, got NoneType'),
])
def test_what_is_not_a_sequence_of_sample_dicts_is_named(operator, samples, message):
    m = make()
    before = snapshot(m)
    call = hdl.train_dl_model_batch if operator == 'train' else hdl.apply_dl_model
    name = 'train_dl_model_batch' if operator == 'train' else 'apply_dl_model'
    with pytest.raises(hdl.HalconDLError, match=message) as err:
        call(m, samples)
    if 'sample 0' not in message:
        assert str(err.value).startswith(name)
    assert_same_snapshot(before, snapshot(m))
