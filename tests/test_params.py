"""Model parameters (SPEC §4): defaults, validation, side effects; bad values change nothing."""
import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.backend import gpu_available
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot


def make(**params):
    return hdl.create_dl_model('classification', class_ids=[1, 2, 3], image_width=8,
                               image_height=8, image_num_channels=3, batch_size=2, **params)


def test_defaults_follow_the_spec():
    m = make()
    expected = dict(image_range_min=-127.0, image_range_max=128.0, batch_size=2,
                    batch_size_multiplier=1, learning_rate=0.001, momentum=0.9, weight_prior=0.0,
                    solver_type='sgd', adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8,
                    class_weights=[1.0, 1.0, 1.0], batchnorm_momentum=0.1, runtime='cpu',
                    precision='float32', type='classification', backbone='compact', num_classes=3,
                    class_ids=[1, 2, 3], class_names=['1', '2', '3'])
    for name, value in expected.items():
        assert hdl.get_dl_model_param(m, name) == value, name
    assert hdl.create_dl_model('classification', class_ids=[0], image_width=4, image_height=4,
                               image_num_channels=1).get_param('batch_size') == 8


@pytest.mark.parametrize('name, value, expected', [
    ('batch_size', 5, 5), ('batch_size', 3.0, 3), ('batch_size_multiplier', 4, 4),
    ('learning_rate', 0.5, 0.5), ('momentum', 0.0, 0.0), ('weight_prior', 1e-4, 1e-4),
    ('adam_beta1', 0.5, 0.5), ('adam_beta2', 0.0, 0.0), ('adam_epsilon', 1e-3, 1e-3),
    ('class_weights', 2.0, [2.0, 2.0, 2.0]), ('class_weights', [0.0, 1.0, 3.0], [0.0, 1.0, 3.0]),
    ('class_names', ['a', 'b', 'c'], ['a', 'b', 'c']), ('batchnorm_momentum', 1.0, 1.0),
    ('image_range_min', -1.0, -1.0), ('image_range_max', 255.0, 255.0),
    ('image_width', 16, 16), ('image_height', 12, 12), ('runtime', 'cpu', 'cpu'),
])
def test_valid_values_round_trip(name, value, expected):
    m = make()
    hdl.set_dl_model_param(m, name, value)
    assert hdl.get_dl_model_param(m, name) == expected


@pytest.mark.parametrize('name, value, message', [
    ('batch_size', 0, 'integer >= 1'), ('batch_size', 2.5, 'integer >= 1'),
    ('batch_size', True, 'integer'), ('batch_size', '8', 'integer'),
    ('batch_size_multiplier', -1, 'integer >= 1'), ('learning_rate', 0.0, r'\(0.0, inf\]'),
    ('learning_rate', float('nan'), 'number'), ('momentum', 1.0, r'\[0.0, 1.0\)'),
    ('momentum', -0.1, r'\[0.0, 1.0\)'), ('weight_prior', -1e-3, 'number'),
    ('solver_type', 'rmsprop', "'sgd', 'adam'"), ('adam_beta2', 1.0, 'number'),
    ('adam_epsilon', 0.0, 'number'), ('class_weights', [1.0, 2.0], 'one per class'),
    ('class_weights', [0.0, 0.0, 0.0], 'not all 0'), ('class_weights', -1.0, 'number'),
    ('class_names', ['a'], '3 strings'), ('class_ids', [1, 1], 'distinct'),
    ('class_ids', [], 'non-empty'), ('class_ids', [-2], 'integer >= 0'),
    ('batchnorm_momentum', 1.5, 'number'), ('runtime', 'tpu', "'cpu', 'gpu'"),
    ('precision', 'float16', "'float32', 'float64'"), ('image_width', 0, 'integer >= 1'),
    ('image_range_min', 200.0, 'below image_range_max'),
    ('type', 'detection', 'only be read'), ('num_classes', 5, 'only be read'),
    ('backbone', 'resnet18', 'only be read'),
    ('no_such_param', 1, r"valid: \[.*'learning_rate'"),
    ('ignore_class_ids', [0], 'unknown parameter'),   # segmentation only
])
def test_bad_values_raise_and_change_nothing(name, value, message):
    m = make()
    hdl.train_dl_model_batch(m, random_samples(m, 2))
    before = snapshot(m)
    with pytest.raises(hdl.HalconDLError, match=message):
        hdl.set_dl_model_param(m, name, value)
    assert_same_snapshot(before, snapshot(m))


def test_unknown_name_on_get_lists_valid_names():
    with pytest.raises(hdl.HalconDLError, match='valid:'):
        hdl.get_dl_model_param(make(), 'lerning_rate')


@pytest.mark.skipif(gpu_available(), reason='this machine has a GPU')
def test_gpu_runtime_without_gpu_raises_and_changes_nothing():
    m = make()
    before = snapshot(m)
    with pytest.raises(hdl.HalconDLError, match='CuPy'):
        hdl.set_dl_model_param(m, 'runtime', 'gpu')
    assert_same_snapshot(before, snapshot(m))


def test_setting_class_ids_rebuilds_the_output_layer():
    m = make()
    hdl.set_dl_model_param(m, 'class_names', ['a', 'b', 'c'])
    hdl.train_dl_model_batch(m, random_samples(m, 2))
    hdl.set_dl_model_param(m, 'class_ids', [7, 8, 9, 10, 11])
    assert m.parameters()['fc.weight'].shape == (5, 128)
    assert m.get_param('num_classes') == 5
    assert m.get_param('class_names') == ['7', '8', '9', '10', '11']
    assert m.get_param('class_weights') == [1.0] * 5
    assert not any(k.startswith('velocity.fc.') for k in m.optimizer_state())
    result = hdl.train_dl_model_batch(m, random_samples(m, 2))   # trains with the new classes
    assert np.isfinite(result['total_loss'])
    # same number of classes: weights and names are kept, only the IDs change
    hdl.set_dl_model_param(m, 'class_ids', [1, 2, 3, 4, 5])
    assert m.parameters()['fc.weight'].shape == (5, 128)


def test_setting_image_num_channels_reinitialises_the_first_convolution():
    m = make()
    hdl.set_dl_model_param(m, 'image_num_channels', 1)
    assert m.parameters()['backbone.stages.0.conv.weight'].shape == (16, 1, 3, 3)
    assert np.isfinite(hdl.train_dl_model_batch(m, random_samples(m, 2))['total_loss'])


def test_image_size_can_change_for_classification():
    m = make()
    hdl.set_dl_model_param(m, 'image_width', 20)
    hdl.set_dl_model_param(m, 'image_height', 10)
    assert np.isfinite(hdl.train_dl_model_batch(m, random_samples(m, 2))['total_loss'])


def test_precision_switch_casts_weights_statistics_and_optimiser_state():
    m = make()
    hdl.train_dl_model_batch(m, random_samples(m, 2))
    hdl.set_dl_model_param(m, 'precision', 'float64')
    arrays = list(m.parameters().values()) + list(m.buffers().values()) + list(m.optimizer_state().values())
    assert arrays and all(a.dtype == np.float64 for a in arrays)
    hdl.train_dl_model_batch(m, random_samples(m, 2))
    assert all(a.dtype == np.float64 for a in m.parameters().values())


def test_batchnorm_momentum_reaches_every_batchnorm():
    m = make()
    hdl.set_dl_model_param(m, 'batchnorm_momentum', 0.5)
    moms = [mod.momentum for mod in m.network.modules() if hasattr(mod, 'momentum')]
    assert moms and all(x == 0.5 for x in moms)


def test_creation_errors():
    with pytest.raises(hdl.HalconDLError, match="supported: \\['classification'"):
        hdl.create_dl_model('anomaly_detection', class_ids=[0], image_width=4, image_height=4,
                            image_num_channels=1)
    with pytest.raises(hdl.HalconDLError, match='backbone'):
        hdl.create_dl_model('classification', backbone='vgg', class_ids=[0], image_width=4,
                            image_height=4, image_num_channels=1)
    with pytest.raises(hdl.HalconDLError, match='learning_rate'):
        make(learning_rate=-1.0)
    with pytest.raises(hdl.HalconDLError, match='expected a model'):
        hdl.train_dl_model_batch('model', [])


def test_parameters_mapping_is_live():
    m = make()
    params = m.parameters()
    assert list(params)[:3] == ['backbone.stages.0.conv.weight', 'backbone.stages.0.bn.gamma', 'backbone.stages.0.bn.beta']
    params['fc.weight'][...] = 0.0                  # logits = bias = log(1, 2, 5)
    params['fc.bias'][...] = np.log([1.0, 2.0, 5.0])
    hdl.set_dl_model_param(m, 'class_names', ['one', 'two', 'three'])
    out = hdl.apply_dl_model(m, random_samples(m, 1))[0]
    assert out['classification_class_ids'] == [3, 2, 1]
    assert out['classification_class_names'] == ['three', 'two', 'one']
    np.testing.assert_allclose(out['classification_confidences'], [5 / 8, 2 / 8, 1 / 8], rtol=1e-6)


def test_resnet18_backbone_trains():
    m = hdl.create_dl_model('classification', backbone='resnet18', class_ids=[0, 1],
                            image_width=32, image_height=32, image_num_channels=3, batch_size=2,
                            base_width=8)
    assert m.get_param('base_width') == 8
    assert m.parameters()['backbone.stem.conv.weight'].shape == (8, 3, 7, 7)
    assert np.isfinite(hdl.train_dl_model_batch(m, random_samples(m, 2))['total_loss'])
