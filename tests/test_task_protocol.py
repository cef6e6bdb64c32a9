"""The seams new model types plug into: parameter access per type, backbone levels, the task
protocol, and the release of each sub-batch's graph."""
import math
import weakref

import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl import ops
from halcon_dl.autograd import Tensor
from halcon_dl.losses import cross_entropy
from halcon_dl.nn.layers import Conv2d
from halcon_dl.nn.networks import CompactBackbone, ResNet18Backbone
from halcon_dl.params import CREATION, GET_ONLY, PARAMS, SETTABLE, spec
from halcon_dl.tasks import TASKS, Task
from halcon_dl.tasks.classification import build_model_backbone
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot


def make(**params):
    return hdl.create_dl_model('classification', class_ids=[0, 1], image_width=8, image_height=8,
                               image_num_channels=3, batch_size=2, **params)


# -- parameter access per model type ----------------------------------------------------------------

DETECTION_CREATION_ONLY = ['min_level', 'max_level', 'anchor_num_subscales', 'anchor_aspect_ratios',
                           'anchor_angles', 'capacity', 'instance_type', 'ignore_direction',
                           'class_ids_no_orientation', 'image_width', 'image_height',
                           'image_num_channels', 'base_width']


def test_every_entry_has_a_valid_access_mode_for_each_of_its_types():
    for entry in PARAMS.values():
        for model_type in entry.types:
            assert entry.access_for(model_type) in (SETTABLE, CREATION, GET_ONLY), entry.name


@pytest.mark.parametrize('name', DETECTION_CREATION_ONLY)
def test_detection_shape_parameters_are_creation_only(name):
    assert spec(name, 'detection').access_for('detection') == CREATION


@pytest.mark.parametrize('name', ['image_width', 'image_height', 'image_num_channels', 'class_ids'])
def test_image_size_and_classes_stay_settable_for_classification(name):
    assert spec(name, 'classification').access_for('classification') == SETTABLE


def test_creation_only_parameter_works_at_creation_and_is_refused_later():
    m = hdl.create_dl_model('classification', backbone='resnet18', class_ids=[0, 1],
                            image_width=16, image_height=16, image_num_channels=3, base_width=4)
    assert m.get_param('base_width') == 4
    assert m.parameters()['backbone.stem.conv.weight'].shape[0] == 4
    before = snapshot(m)
    with pytest.raises(hdl.HalconDLError, match="'base_width'.*only be set at creation"):
        hdl.set_dl_model_param(m, 'base_width', 8)
    assert_same_snapshot(before, snapshot(m))


@pytest.mark.parametrize('value', [0, -3, 'a', 2.7, None, [4], True])
def test_bad_base_width_is_refused_at_creation(value):
    with pytest.raises(hdl.HalconDLError, match='base_width'):
        make(base_width=value)


@pytest.mark.parametrize('value', [-1, float('nan'), 1.5, '5', True, [1], 5.0, np.float64(3.0)])
def test_bad_seed_is_refused_like_set_system(value):
    with pytest.raises(hdl.HalconDLError, match='seed') as created:
        make(seed=value)
    with pytest.raises(hdl.HalconDLError, match='seed') as system:
        hdl.set_system('seed_rand', value)
    assert 'integer >= 0' in str(created.value) and 'integer >= 0' in str(system.value)


def test_numpy_integer_seed_is_the_same_as_the_python_one():
    a, b = make(seed=np.int64(3)), make(seed=3)
    assert_same_snapshot(snapshot(a), snapshot(b))


def test_get_only_and_unknown_parameters_at_creation():
    with pytest.raises(hdl.HalconDLError, match="'num_classes' can only be read"):
        make(num_classes=3)
    with pytest.raises(hdl.HalconDLError, match="unknown parameter 'min_level'"):
        make(min_level=2)                     # a detection parameter


def test_value_range_given_at_creation_is_checked_once_all_are_set():
    m = make(image_range_min=200.0, image_range_max=300.0)    # min first: fine at the end
    assert (m.get_param('image_range_min'), m.get_param('image_range_max')) == (200.0, 300.0)
    with pytest.raises(hdl.HalconDLError, match='below image_range_max'):
        make(image_range_min=5.0, image_range_max=1.0)


def test_class_weights_default_comes_from_the_task():
    m = make()
    assert m.get_param('class_weights') == [1.0, 1.0]
    hdl.set_dl_model_param(m, 'class_ids', [3, 4, 5])
    assert m.get_param('class_weights') == [1.0, 1.0, 1.0]


# -- backbones by level -------------------------------------------------------------------------------

@pytest.mark.parametrize('height, width', [(16, 16), (37, 29), (9, 5)])
def test_compact_levels_have_stride_two_to_the_level(height, width):
    rng = np.random.default_rng(0)
    net = CompactBackbone(3, rng)
    x = Tensor(rng.standard_normal((2, 3, height, width)).astype(np.float32))
    levels = net(x)
    assert list(levels) == [0, 1, 2, 3] == list(net.levels)
    for level, f in levels.items():
        assert f.shape == (2, net.channels[level], math.ceil(height / 2 ** level),
                           math.ceil(width / 2 ** level))


def test_resnet18_levels_have_stride_two_to_the_level():
    rng = np.random.default_rng(0)
    net = ResNet18Backbone(1, rng, base_width=4)
    levels = net(Tensor(rng.standard_normal((2, 1, 40, 33)).astype(np.float32)))
    assert list(levels) == [1, 2, 3, 4, 5]
    assert [net.channels[k] for k in levels] == [4, 4, 8, 16, 32]
    for level, f in levels.items():
        assert f.shape[2:] == (math.ceil(40 / 2 ** level), math.ceil(33 / 2 ** level))


@pytest.mark.parametrize('backbone', ['compact', 'resnet18'])
def test_classifier_is_backbone_then_global_pool_then_dense(backbone):
    m = hdl.create_dl_model('classification', backbone=backbone, class_ids=[0, 1, 2],
                            image_width=20, image_height=12, image_num_channels=3,
                            precision='float64', base_width=4)
    net = m.network
    net.eval()
    x = Tensor(np.random.default_rng(1).standard_normal((3, 3, 12, 20)))
    deepest = net.backbone(x)[net.backbone.levels[-1]].data
    expected = deepest.mean(axis=(2, 3)) @ m.parameters()['fc.weight'].T + m.parameters()['fc.bias']
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-12, atol=1e-12)


# -- a model type plugs in through the protocol -------------------------------------------------------

class PixelTask(Task):
    """A minimal per-pixel type: backbone level 0, a 1x1 conv to the classes, mean pixel CE
    (target class index from the sample), plus a reported (not trained) part."""
    type = 'segmentation'

    def build_network(self, model, rng):
        from halcon_dl.nn import Module

        class Net(Module):
            def __init__(self):
                super().__init__()
                self.backbone = build_model_backbone(PixelTask, model, rng)
                self.head = Conv2d(16, len(model.class_ids), 1, rng, dtype=model.dtype)

            def forward(self, x):
                return self.head(self.backbone(x)[0])
        return Net()

    def collate(self, model, samples, labels=True):
        images = np.stack([s['image'] for s in samples]).astype(model.dtype).transpose(0, 3, 1, 2)
        batch = {'images': images}
        if labels:
            batch['targets'] = np.stack([np.full(images.shape[2:], s['image_label_id'])
                                         for s in samples])
        return batch

    def loss_weights(self, model):
        return {'pixel_loss': 2.0}

    def losses(self, model, outputs, batch):
        return {'pixel_loss': cross_entropy(outputs, batch['targets']), 'reported_part': 1.5}

    def results(self, model, outputs):
        return [{'n': int(o.shape[0])} for o in outputs.data]


def test_a_new_model_type_plugs_in_without_touching_the_model(monkeypatch):
    monkeypatch.setitem(TASKS, 'segmentation', PixelTask)
    m = hdl.create_dl_model('segmentation', class_ids=[0, 1], image_width=6, image_height=5,
                            image_num_channels=3, batch_size=2, batch_size_multiplier=2)
    samples = random_samples(m, 4)
    for s in samples:
        s['image_label_id'] = 0 if s['image_label_id'] == 0 else 1
    losses = hdl.train_dl_model_batch(m, samples)
    assert set(losses) == {'total_loss', 'pixel_loss', 'reported_part', 'regularization_loss'}
    assert losses['reported_part'] == 1.5
    assert losses['total_loss'] == pytest.approx(2.0 * losses['pixel_loss'])
    assert hdl.apply_dl_model(m, samples[:3]) == [{'n': 2}] * 3
    assert m.get_param('ignore_class_ids') == []           # the segmentation parameters


# -- the graph of a sub-batch is released before the next one runs -----------------------------------

def test_previous_sub_batch_graph_is_freed_before_the_next_forward(monkeypatch):
    m = make(batch_size_multiplier=3)
    seen = []                     # weak references to each sub-batch's network output
    alive_at_call = []
    original = type(m.task).losses

    def spy(task, model, outputs, batch):
        alive_at_call.append([ref() is not None for ref in seen])
        seen.append(weakref.ref(outputs))
        return original(task, model, outputs, batch)
    monkeypatch.setattr(type(m.task), 'losses', spy)
    hdl.train_dl_model_batch(m, random_samples(m, 6))
    assert alive_at_call == [[], [False], [False, False]]
    assert all(ref() is None for ref in seen)
