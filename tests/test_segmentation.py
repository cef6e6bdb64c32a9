"""Segmentation end to end: the per-pixel loss against its formula (mpmath), its gradient, the
full training step from outside, ignored pixels, weight images, sub-batches, sample errors,
inference results, parameters and the network's decoder."""
import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from mpmath import mp

import halcon_dl as hdl
from halcon_dl import ops
from halcon_dl.autograd import Tensor
from halcon_dl.nn import Conv2d, Module
from halcon_dl.testing import gradcheck
from halcon_dl.testing.models import (assert_same_snapshot,
                                      random_segmentation_samples as seg_samples, snapshot,
                                      step_against_finite_differences)

IDS = [1, 3, 6]                 # class IDs (not indices)
IGNORE = [9, 250]


def seg_model(**params):
    kw = dict(class_ids=IDS, image_width=7, image_height=5, image_num_channels=3,
              precision='float64', batch_size=2, seed=1, ignore_class_ids=IGNORE)
    kw.update(params)
    return hdl.create_dl_model('segmentation', **kw)


def pixel_weight(sample, r, q, model):
    """w_p by the documented rule, from the raw sample (independent of the task's collate)."""
    cid = int(sample['segmentation_image'][r, q])
    if cid in model.get_param('ignore_class_ids'):
        return 0.0
    if 'weight_image' in sample:
        return float(sample['weight_image'][r, q])
    return model.get_param('class_weights')[model.class_ids.index(cid)]


def mp_segmentation_loss(logits, samples, model):
    """L = -(1/W) Σ_p w_p log softmax(z_p)[t_p] and dL/dz, in mpmath (60 digits)."""
    n, c, h, w = logits.shape
    grad = np.zeros(logits.shape)
    with mp.workdps(60):
        terms, weights = [], []
        for i, s in enumerate(samples):
            for r in range(h):
                for q in range(w):
                    wp = mp.mpf(pixel_weight(s, r, q, model))
                    cid = int(s['segmentation_image'][r, q])
                    t = model.class_ids.index(cid) if cid in model.class_ids else 0
                    z = [mp.mpf(float(v)) for v in logits[i, :, r, q]]
                    total = mp.fsum(mp.exp(v) for v in z)
                    terms.append((i, r, q, wp, t, z, total))
                    weights.append(wp)
        big_w = mp.fsum(weights)
        if big_w == 0:
            return 0.0, grad
        loss = -mp.fsum(wp * mp.log(mp.exp(z[t]) / total) for _, _, _, wp, t, z, total in terms)
        for i, r, q, wp, t, z, total in terms:
            grad[i, :, r, q] = [float(wp / big_w * (mp.exp(v) / total - (k == t)))
                                for k, v in enumerate(z)]
        return float(loss / big_w), grad


# -- the loss ---------------------------------------------------------------------------------------

@settings(max_examples=25)
@given(data=st.data())
def test_loss_matches_the_formula_for_drawn_logits_labels_weights_and_ignore_sets(data):
    n, h, w = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    ids = data.draw(st.lists(st.integers(0, 20), min_size=1, max_size=4, unique=True))
    ignore = data.draw(st.lists(st.integers(21, 30), max_size=2, unique=True))
    cw = data.draw(st.lists(st.sampled_from([0.0, 0.25, 1.0, 1.5, 3.0]), min_size=len(ids),
                            max_size=len(ids)).filter(lambda v: any(x > 0 for x in v)))
    model = seg_model(class_ids=ids, ignore_class_ids=ignore, class_weights=cw, image_height=h,
                      image_width=w, batch_size=n)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    samples = seg_samples(model, n, seed=int(rng.integers(1000)), ignored=bool(ignore))
    for s in samples:
        if data.draw(st.booleans()):
            s['weight_image'] = rng.choice([0.0, 0.5, 1.0, 2.75], (h, w)).astype(np.float32)
    logits = rng.uniform(-30, 30, (n, len(ids), h, w))
    expected, expected_grad = mp_segmentation_loss(logits, samples, model)
    z = Tensor(logits.copy(), requires_grad=True)
    loss = model.task.losses(model, z, model.task.collate(model, samples))['cross_entropy_loss']
    loss.backward()
    assert float(loss.data) == pytest.approx(expected, rel=1e-13, abs=1e-300)
    np.testing.assert_allclose(z.grad, expected_grad, rtol=1e-12, atol=1e-15)


def test_loss_gradient_by_finite_differences():
    model = seg_model(batch_size=3, class_weights=[0.5, 2.0, 1.0])
    samples = seg_samples(model, 3, seed=4, weight_images=True)
    batch = model.task.collate(model, samples)
    logits = np.random.default_rng(2).uniform(-3, 3, (3, 3, 5, 7))
    gradcheck(lambda z: model.task.losses(model, z, batch)['cross_entropy_loss'], [logits])


def test_ignored_logits_change_neither_loss_nor_gradient_and_get_zero_gradient():
    model = seg_model(batch_size=2)
    samples = seg_samples(model, 2, seed=6, weight_images=True)
    batch = model.task.collate(model, samples)
    ignored = np.isin(np.stack([s['segmentation_image'] for s in samples]), IGNORE)
    assert ignored.any() and not ignored.all()
    rng = np.random.default_rng(3)
    logits = rng.uniform(-4, 4, (2, 3, 5, 7))
    other = logits.copy()
    other.transpose(0, 2, 3, 1)[ignored] = rng.uniform(-50, 50, (ignored.sum(), 3))
    results = []
    for z in (logits, other):
        t = Tensor(z, requires_grad=True)
        loss = model.task.losses(model, t, batch)['cross_entropy_loss']
        loss.backward()
        results.append((float(loss.data), t.grad))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert not results[0][1].transpose(0, 2, 3, 1)[ignored].any()


def test_all_pixels_ignored_gives_zero_loss_zero_gradient_and_no_change():
    model = seg_model(momentum=0.0, learning_rate=0.1)
    samples = seg_samples(model, 2)
    for s in samples:
        s['segmentation_image'][...] = 250
    samples[0]['segmentation_image'][0, 0] = 9
    _, grads = copy.deepcopy(model).gradients(samples)
    assert all(not g.any() for g in grads.values())
    before = snapshot(model)
    result = hdl.train_dl_model_batch(model, samples)
    assert result['cross_entropy_loss'] == 0.0 == result['total_loss']
    assert set(result) == {'total_loss', 'cross_entropy_loss', 'regularization_loss'}
    assert all(type(v) is float for v in result.values())
    after = snapshot(model)
    for k in before:                   # weights unchanged; BatchNorm statistics did update
        if k.startswith('param.'):
            assert before[k].tobytes() == after[k].tobytes(), k


# -- the full step from outside -----------------------------------------------------------------------

@pytest.mark.parametrize('multiplier', [1, 2])
def test_step_equals_minus_learning_rate_times_finite_difference_gradient(multiplier):
    """Momentum 0: w_new - w = -λ ∂total_loss/∂w, the derivative taken from outside (weight
    images on some samples, ignored pixels, class weights, weight prior)."""
    model = seg_model(momentum=0.0, learning_rate=0.05, weight_prior=0.01,
                      batch_size_multiplier=multiplier, class_weights=[0.5, 1.0, 2.0])
    samples = seg_samples(model, 2 * multiplier, seed=3, weight_images=True)
    for name, index, step, expected in step_against_finite_differences(model, samples):
        assert step == pytest.approx(expected, rel=1e-5, abs=1e-9), (name, index)


def test_ignored_pixels_labels_and_weights_change_nothing_in_a_step():
    """Swapping ignored IDs (9 <-> 250) and changing weight-image values under ignored pixels
    leaves the losses and the trained model bit-identical."""
    a, b = seg_model(), seg_model()
    samples = seg_samples(a, 2, seed=8, weight_images=True)
    other = copy.deepcopy(samples)
    for s in other:
        seg = s['segmentation_image']
        ignored = np.isin(seg, IGNORE)
        seg[ignored] = np.where(seg[ignored] == 9, 250, 9)
        if 'weight_image' in s:
            s['weight_image'][ignored] = 123.0
    assert any(np.isin(s['segmentation_image'], IGNORE).any() for s in samples)
    ra, rb = hdl.train_dl_model_batch(a, samples), hdl.train_dl_model_batch(b, other)
    assert ra == rb
    assert_same_snapshot(snapshot(a), snapshot(b))


def test_all_ones_weight_image_equals_no_weight_image_with_unit_class_weights():
    a, b = seg_model(), seg_model(class_weights=1.0)
    plain = seg_samples(a, 2, seed=5)
    ones = [{**s, 'weight_image': np.ones((5, 7), np.float32)} for s in plain]
    for _ in range(2):
        assert hdl.train_dl_model_batch(a, plain) == hdl.train_dl_model_batch(b, ones)
    assert_same_snapshot(snapshot(a), snapshot(b))


def test_generated_weight_images_equal_the_same_class_weights():
    """gen_dl_segmentation_weight_images(w) with unit class weights == class_weights w."""
    w = [0.5, 2.0, 1.25]                  # exact in float32: the weight image holds float32
    a, b = seg_model(class_weights=w), seg_model()
    plain = seg_samples(a, 2, seed=5)
    weighted = hdl.gen_dl_segmentation_weight_images(plain, IDS, w)
    assert hdl.train_dl_model_batch(a, plain) == hdl.train_dl_model_batch(b, weighted)
    state_a, state_b = snapshot(a), snapshot(b)
    assert state_a.pop('params')['class_weights'] == w and state_b.pop('params')['class_weights'] == [1.0] * 3
    assert_same_snapshot(state_a, state_b)


# -- sub-batches ----------------------------------------------------------------------------------------

def test_multiplier_step_is_the_mean_of_its_sub_batches():
    """M = 2: each loss and the data gradient are the means of the two sub-batches' own
    (each normalised by its own W), also with BatchNorm and uneven ignored pixels."""
    model = seg_model(batch_size=2, batch_size_multiplier=2)
    samples = seg_samples(model, 4, seed=11, weight_images=True)
    samples[1]['segmentation_image'][:3] = 9             # first half: many pixels ignored
    losses, grads = copy.deepcopy(model).gradients(samples)
    halves = []
    for part in (samples[:2], samples[2:]):
        single = copy.deepcopy(model)
        single.set_param('batch_size_multiplier', 1)
        halves.append(single.gradients(part))
    for k in losses:
        assert losses[k] == pytest.approx((halves[0][0][k] + halves[1][0][k]) / 2, rel=1e-13)
    for k, g in grads.items():
        np.testing.assert_allclose(g, (halves[0][1][k] + halves[1][1][k]) / 2, rtol=1e-12,
                                   atol=1e-15)


class NoBatchNormSegNet(Module):
    """conv3x3 C->4 (bias) + ReLU, conv1x1 4 -> classes: a segmentation net without BatchNorm."""

    def __init__(self, in_channels, num_classes, rng):
        super().__init__()
        self.conv = Conv2d(in_channels, 4, 3, rng, padding=1, dtype=np.float64)
        self.head = Conv2d(4, num_classes, 1, rng, dtype=np.float64)

    def forward(self, x):
        return self.head(ops.relu(self.conv(x)))


def no_bn_model(multiplier, batch):
    model = seg_model(batch_size=batch, batch_size_multiplier=multiplier, momentum=0.9,
                      learning_rate=0.1, weight_prior=0.01)
    model.network = NoBatchNormSegNet(3, 3, np.random.default_rng(5))
    return model


def test_multiplier_without_batchnorm_matches_one_big_batch_when_sub_batches_weigh_the_same():
    samples = seg_samples(seg_model(), 4, seed=4, ignored=False)
    one, two = no_bn_model(1, 4), no_bn_model(2, 2)
    for _ in range(2):
        r1, r2 = hdl.train_dl_model_batch(one, samples), hdl.train_dl_model_batch(two, samples)
        for k in r1:
            assert r1[k] == pytest.approx(r2[k], rel=1e-12)
    for k, w in one.parameters().items():
        np.testing.assert_allclose(w, two.parameters()[k], rtol=1e-12, atol=1e-14)


def test_multiplier_normalises_per_sub_batch_when_the_sub_batches_weigh_differently():
    samples = seg_samples(seg_model(), 4, seed=4, ignored=False)
    samples[0]['segmentation_image'][:4] = 250            # sub-batch 1 has fewer weighted pixels
    r1 = hdl.train_dl_model_batch(no_bn_model(1, 4), samples)
    r2 = hdl.train_dl_model_batch(no_bn_model(2, 2), samples)
    assert abs(r1['cross_entropy_loss'] - r2['cross_entropy_loss']) > 1e-6


def test_multiplier_with_batchnorm_differs():
    samples = seg_samples(seg_model(), 4, seed=4, ignored=False)
    one, two = seg_model(batch_size=4), seg_model(batch_size=2, batch_size_multiplier=2)
    r1, r2 = hdl.train_dl_model_batch(one, samples), hdl.train_dl_model_batch(two, samples)
    assert abs(r1['cross_entropy_loss'] - r2['cross_entropy_loss']) > 1e-6


# -- sample errors -------------------------------------------------------------------------------------

def setter(key, value):
    def mutate(sample):
        sample[key] = value() if callable(value) else value
    return mutate


def drop(key):
    return lambda sample: sample.pop(key)


def set_pixel(value, dtype=np.int32, count=1):
    def mutate(sample):
        seg = sample['segmentation_image'].astype(dtype)
        seg.reshape(-1)[:count] = value
        sample['segmentation_image'] = seg
    return mutate


def weight_with(value):
    def mutate(sample):
        w = np.ones((5, 7), np.float32)
        w[2, 3] = value
        sample['weight_image'] = w
    return mutate


SEG = 'segmentation_image'
VIOLATIONS = [
    ('missing labels', drop(SEG), SEG, 'missing'),
    ('labels transposed', setter(SEG, np.ones((7, 5), np.int32)), SEG, r'shape \(5, 7\), got \(7, 5\)'),
    ('labels with channel', setter(SEG, np.ones((5, 7, 1), np.int32)), SEG, 'shape'),
    ('labels list', setter(SEG, [[1] * 7] * 5), SEG, 'array of class IDs'),
    ('labels bool', setter(SEG, np.ones((5, 7), bool)), SEG, 'integer dtype'),
    ('labels complex', setter(SEG, np.ones((5, 7), complex)), SEG, 'integer dtype'),
    ('labels fractional', set_pixel(1.5, np.float32), SEG, 'integral class IDs, got 1.5'),
    ('labels nan', set_pixel(np.nan, np.float64), SEG, 'integral class IDs, got nan'),
    ('labels inf', set_pixel(np.inf, np.float32), SEG, 'integral class IDs, got inf'),
    ('unknown id', set_pixel(7, count=3), SEG, r'IDs 7 \(3 pixels\) are neither class IDs '
     r'\[1, 3, 6\] nor ignore_class_ids \[9, 250\]'),
    ('index not id', set_pixel(0, count=1), SEG, r'IDs 0 \(1 pixel\) are neither'),
    ('negative id', set_pixel(-1, count=2), SEG, r'IDs -1 \(2 pixels\)'),
    ('huge unsigned id', set_pixel(2 ** 64 - 1, np.uint64), SEG, f'IDs {2 ** 64 - 1} '),
    ('weights transposed', setter('weight_image', np.ones((7, 5), np.float32)), 'weight_image',
     'shape'),
    ('weights integer', setter('weight_image', np.ones((5, 7), np.int32)), 'weight_image',
     'dtype float32'),
    ('weights list', setter('weight_image', [[1.0] * 7] * 5), 'weight_image', 'array'),
    ('weights none', setter('weight_image', None), 'weight_image', 'array'),
    ('weights negative', weight_with(-0.5), 'weight_image', r'>= 0, got -0.5 at \[2, 3\]'),
    ('weights nan', weight_with(np.nan), 'weight_image', 'finite'),
    ('weights inf', weight_with(np.inf), 'weight_image', 'finite'),
    ('missing image', drop('image'), 'image', 'missing'),
    ('image wrong size', setter('image', np.zeros((7, 5, 3), np.float32)), 'image', 'shape'),
    ('image bytes', setter('image', np.zeros((5, 7, 3), np.uint8)), 'image', 'dtype float32'),
    ('image nan', setter('image', np.full((5, 7, 3), np.nan, np.float32)), 'image', 'NaN'),
]


@pytest.mark.parametrize('what, mutate, key, message', VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
@pytest.mark.parametrize('operator', ['train', 'apply'])
def test_violation_names_sample_and_key_and_changes_nothing(what, mutate, key, message, operator):
    if operator == 'apply' and key != 'image':
        return                                     # inference reads images only
    model = seg_model()
    hdl.train_dl_model_batch(model, seg_samples(model, 2))     # optimiser state exists
    samples = seg_samples(model, 2, seed=5)
    mutate(samples[1])                             # image_id 101, position 1
    before = snapshot(model)
    call = hdl.train_dl_model_batch if operator == 'train' else hdl.apply_dl_model
    with pytest.raises(hdl.HalconDLError, match=message) as err:
        call(model, samples)
    assert f"sample 1 (image_id 101): key '{key}'" in str(err.value)
    assert_same_snapshot(before, snapshot(model))


def test_float_labels_holding_integral_ids_train_like_integers():
    a, b = seg_model(), seg_model()
    ints = seg_samples(a, 2, seed=2)
    floats = [{**s, SEG: s[SEG].astype(np.float64)} for s in ints]
    assert hdl.train_dl_model_batch(a, ints) == hdl.train_dl_model_batch(b, floats)
    assert_same_snapshot(snapshot(a), snapshot(b))


# -- inference ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('precision', ['float32', 'float64'])
def test_results_are_argmax_ids_and_max_softmax_of_the_eval_logits(precision):
    model = seg_model(precision=precision, batch_size=2)
    hdl.train_dl_model_batch(model, seg_samples(model, 2))        # running statistics move
    samples = seg_samples(model, 3, seed=9)                        # 3: a partial last chunk
    results = hdl.apply_dl_model(model, samples)
    model.network.eval()
    images = np.stack([s['image'] for s in samples]).astype(precision).transpose(0, 3, 1, 2)
    # the logits of the same chunks as apply (batch_size 2): a product over another number of
    # images may round differently in float32
    z = np.concatenate([model.network(Tensor(images[k:k + 2])).data for k in (0, 2)])
    z = z.astype(np.float64)
    model.network.train()
    softmax = np.exp(z - z.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    assert len(results) == 3
    for k, r in enumerate(results):
        assert set(r) == {'segmentation_image', 'segmentation_confidence'}
        assert r['segmentation_image'].shape == (5, 7) == r['segmentation_confidence'].shape
        assert r['segmentation_image'].dtype == np.int64
        assert r['segmentation_confidence'].dtype == np.float32
        np.testing.assert_array_equal(r['segmentation_image'], np.array(IDS)[z[k].argmax(axis=0)])
        np.testing.assert_allclose(r['segmentation_confidence'], softmax[k].max(axis=0),
                                   rtol=1e-6)


# -- parameters ----------------------------------------------------------------------------------------

def test_ignore_ids_must_not_be_class_ids():
    with pytest.raises(hdl.HalconDLError, match='ignore_class_ids.*clash: \\[3\\]'):
        seg_model(ignore_class_ids=[3, 9])
    model = seg_model()
    before = snapshot(model)
    with pytest.raises(hdl.HalconDLError, match='clash'):
        hdl.set_dl_model_param(model, 'ignore_class_ids', [6])
    with pytest.raises(hdl.HalconDLError, match=r'IDs \[9\] are in ignore_class_ids'):
        hdl.set_dl_model_param(model, 'class_ids', [1, 9])
    assert_same_snapshot(before, snapshot(model))
    hdl.set_dl_model_param(model, 'ignore_class_ids', [])
    hdl.set_dl_model_param(model, 'class_ids', [1, 9])
    assert model.get_param('class_ids') == [1, 9]


def test_new_class_count_gets_a_new_output_layer_and_trains():
    model = seg_model()
    hdl.train_dl_model_batch(model, seg_samples(model, 2))
    hdl.set_dl_model_param(model, 'class_ids', [1, 3, 6, 7])
    assert model.parameters()['head.weight'].shape == (4, 16, 1, 1)
    assert model.get_param('class_weights') == [1.0] * 4
    state = model.optimizer_state()
    assert 'velocity.head.weight' not in state and 'velocity.decoder.0.conv.weight' in state
    samples = seg_samples(model, 2, seed=1)
    assert math.isfinite(hdl.train_dl_model_batch(model, samples)['total_loss'])
    assert set(np.unique(hdl.apply_dl_model(model, samples)[0][SEG])) <= {1, 3, 6, 7}


@pytest.mark.parametrize('backbone', ['compact', 'resnet18'])
def test_image_size_and_channels_are_settable(backbone):
    model = seg_model(backbone=backbone, base_width=4)
    hdl.set_dl_model_param(model, 'image_width', 13)
    hdl.set_dl_model_param(model, 'image_height', 6)
    hdl.set_dl_model_param(model, 'image_num_channels', 1)
    samples = seg_samples(model, 2)
    assert samples[0]['image'].shape == (6, 13, 1)
    assert math.isfinite(hdl.train_dl_model_batch(model, samples)['total_loss'])
    assert hdl.apply_dl_model(model, samples)[1][SEG].shape == (6, 13)


# -- the network ---------------------------------------------------------------------------------------

def upsample_and_crop(d, size):
    """Nearest x2 (np.repeat), then the bottom/right rows and columns beyond ``size`` dropped."""
    up = np.repeat(np.repeat(d, 2, axis=2), 2, axis=3)
    return up[:, :, :size[0], :size[1]]


@pytest.mark.parametrize('backbone, height, width', [('compact', 5, 7), ('compact', 9, 16),
                                                     ('compact', 1, 1), ('resnet18', 11, 6),
                                                     ('resnet18', 32, 32)])
def test_network_is_decoder_with_additive_skips_back_to_the_input_size(backbone, height, width):
    """logits = head(d_0), d_l = ConvBNReLU_l(up2(d_{l+1}) cropped to level l) + e_l."""
    model = seg_model(backbone=backbone, base_width=4, image_height=height, image_width=width)
    net = model.network
    net.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, height, width))
    features = {k: v.data for k, v in net.backbone(Tensor(x)).items()}
    levels = sorted(features)
    d = features[levels[-1]]
    for level, stage in zip(range(levels[-1] - 1, -1, -1), net.decoder):
        size = (math.ceil(height / 2 ** level), math.ceil(width / 2 ** level))
        d = stage(Tensor(np.ascontiguousarray(upsample_and_crop(d, size)))).data
        d = d + features[level] if level in features else d
    p = model.parameters()
    expected = np.einsum('oc,nchw->nohw', p['head.weight'][:, :, 0, 0], d) \
        + p['head.bias'][None, :, None, None]
    logits = net(Tensor(x)).data
    assert logits.shape == (2, 3, height, width)
    np.testing.assert_allclose(logits, expected, rtol=1e-12, atol=1e-12)
