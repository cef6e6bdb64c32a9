"""Detection end to end (SPEC §3–§9): creation, network, targets through collate, losses per
level, the training step checked from outside, inference, sample errors, determinism."""
import copy
import math

import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.autograd import Tensor
from halcon_dl.datasets import make_shapes_scenes
from halcon_dl.detection import box_iou, decode, generate_anchors, rect1_to_rect2, rect2_to_rect1
from halcon_dl.nn.networks.detection import CAPACITY, Head
from halcon_dl.testing.models import assert_same_snapshot, snapshot, total_loss_derivative

KINDS = ['rectangle1', 'rectangle2']
RECT2_ANGLES = [0.0, math.pi / 4]


def make(kind='rectangle1', **params):
    kw = dict(class_ids=[3, 5, 8], image_width=32, image_height=32, image_num_channels=3,
              instance_type=kind, capacity='low', batch_size=2, seed=1)
    if kind == 'rectangle2':
        kw['anchor_angles'] = RECT2_ANGLES
    kw.update(params)
    return hdl.create_dl_model('detection', **kw)


def scenes(kind, count, seed=0, size=32, class_ids=(3, 5, 8), min_shapes=0):
    names = ('square', 'triangle', 'circle')[:len(class_ids)]
    return make_shapes_scenes(count, size, 3, seed=seed, min_shapes=min_shapes, max_shapes=3,
                              class_names=names, class_ids=list(class_ids), size_range=(10, 22),
                              overlap=False, with_boxes=kind)


def box_array(sample, kind):
    keys = (('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2') if kind == 'rectangle1' else
            ('bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1', 'bbox_length2'))
    return np.stack([np.asarray(sample[k], dtype=np.float64) for k in keys], axis=1).reshape(
        -1, len(keys))


# -- creation ------------------------------------------------------------------------------------

def test_create_dl_model_detection_defaults_class_ids_to_0_to_n_minus_1():
    m = hdl.create_dl_model_detection('compact', 4, {'image_width': 32, 'image_height': 32})
    assert m.get_param('type') == 'detection' and m.get_param('class_ids') == [0, 1, 2, 3]
    assert m.get_param('image_num_channels') == 3
    assert m.get_param('class_weights') == [0.25] * 4
    assert m.get_param('instance_type') == 'rectangle1'
    m2 = hdl.create_dl_model_detection('compact', 2, {'image_width': 32, 'image_height': 32,
                                                      'class_ids': [7, 9], 'max_level': 3,
                                                      'instance_type': 'rectangle2'})
    assert m2.get_param('class_ids') == [7, 9] and m2.get_param('max_level') == 3
    assert m2.get_param('instance_type') == 'rectangle2'


@pytest.mark.parametrize('args, match', [
    ((3, {'image_width': 32, 'image_height': 32, 'class_ids': [1, 2]}), 'num_classes is 3'),
    ((3, {'image_width': 32}), 'image_height'),
    ((0, {'image_width': 32, 'image_height': 32}), 'num_classes'),
    ((2, [('image_width', 32)]), 'dict'),
])
def test_create_dl_model_detection_rejects_inconsistent_arguments(args, match):
    with pytest.raises(hdl.HalconDLError, match=match):
        hdl.create_dl_model_detection('compact', *args)


@pytest.mark.parametrize('params, match', [
    (dict(min_level=4, max_level=3), "'min_level' \\(4\\) must not exceed"),
    (dict(max_level=6), '2\\^6 = 64 pixels'),
    (dict(image_width=12), '2\\^4 = 16 pixels'),
    (dict(min_level=0), "'min_level': expected an integer >= 1"),
    (dict(anchor_angles=[0.0, 0.5]), "'anchor_angles' applies to instance_type 'rectangle2'"),
    (dict(ignore_direction=True), "'ignore_direction' applies"),
    (dict(class_ids_no_orientation=[3]), "'class_ids_no_orientation' applies"),
    (dict(instance_type='rectangle2', class_ids_no_orientation=[4]), 'unknown: \\[4\\]'),
    (dict(capacity='huge'), 'capacity'),
    (dict(anchor_aspect_ratios=[1.0, -2.0]), 'anchor_aspect_ratios'),
    (dict(anchor_num_subscales=0), 'anchor_num_subscales'),
    (dict(instance_type='rectangle3'), 'instance_type'),
])
def test_creation_parameters_are_validated_together(params, match):
    with pytest.raises(hdl.HalconDLError, match=match):
        make(**params)


@pytest.mark.parametrize('name, value', [('min_level', 3), ('anchor_num_subscales', 2),
                                         ('capacity', 'high'), ('instance_type', 'rectangle2'),
                                         ('image_width', 64)])
def test_creation_only_parameters_are_refused_later_and_change_nothing(name, value):
    m = make()
    before = snapshot(m)
    with pytest.raises(hdl.HalconDLError, match='only be set at creation'):
        hdl.set_dl_model_param(m, name, value)
    assert_same_snapshot(before, snapshot(m))


def test_settable_detection_parameters_round_trip():
    m = make()
    for name, value in [('class_heads_weight', 0.5), ('bbox_heads_weight', 2.0),
                        ('min_confidence', 0.3), ('max_overlap', 0.7),
                        ('max_overlap_class_agnostic', 0.9), ('max_num_detections', 7)]:
        hdl.set_dl_model_param(m, name, value)
        assert hdl.get_dl_model_param(m, name) == value
    with pytest.raises(hdl.HalconDLError, match='min_confidence'):
        hdl.set_dl_model_param(m, 'min_confidence', 1.5)


# -- network -------------------------------------------------------------------------------------

@pytest.mark.parametrize('capacity', list(CAPACITY))
def test_capacity_sets_head_depth_and_width_and_the_class_bias_is_the_prior(capacity):
    m = make(capacity=capacity)
    depth, width = CAPACITY[capacity]
    for head, values in ((m.network.class_head, 3), (m.network.box_head, 4)):
        convs = [c for c in head.hidden]
        assert len(convs) == depth
        assert all(c.weight.shape == (width, width, 3, 3) for c in convs)
        assert head.out.weight.shape == (9 * values, width, 3, 3)
    np.testing.assert_allclose(m.network.class_head.out.bias.data, -math.log(99.0), rtol=1e-7)
    np.testing.assert_array_equal(m.network.box_head.out.bias.data, 0.0)


@pytest.mark.parametrize('backbone, levels', [('compact', (2, 5)), ('compact', (4, 5)),
                                              ('resnet18', (1, 3)), ('resnet18', (3, 6))])
def test_outputs_cover_every_level_with_its_anchor_count(backbone, levels):
    """Backbone levels, levels beyond the backbone (extra stride-2 convs) and a width that is
    no multiple of the strides (72: the top-down path crops)."""
    lo, hi = levels
    m = make(backbone=backbone, min_level=lo, max_level=hi, image_height=64, image_width=72)
    out = m.network(Tensor(np.zeros((2, 3, 64, 72), dtype=np.float32)))
    assert list(out) == list(range(lo, hi + 1))
    _, level_of = generate_anchors(64, 72, lo, hi, 3, [1.0, 2.0, 0.5])
    for lv, (logits, deltas) in out.items():
        count = int((level_of == lv).sum())
        assert logits.shape == (2, count, 3) and deltas.shape == (2, count, 4)


def test_head_output_row_is_cell_row_major_then_anchor_then_value():
    """The order of the anchors (cells row-major, then the A anchors of a cell): output row
    (i·w + j)·A + a of a level holds the values of anchor a of cell (i, j)."""
    a, v, h, w = 2, 3, 3, 4
    head = Head(1, 0, a, v, np.random.default_rng(0), dtype=np.float64)
    head.out.weight.data[...] = 0
    head.out.weight.data[:, 0, 1, 1] = np.arange(1, a * v + 1)      # channel ch = (ch+1)·x
    head.out.bias.data[...] = 0
    x = (10000 * np.arange(2)[:, None, None] + 100 * np.arange(h)[None, :, None]
         + np.arange(w)[None, None, :]).astype(np.float64)[:, None]
    y = head(Tensor(x)).data
    assert y.shape == (2, h * w * a, v)
    for n, i, j, k, c in np.ndindex(2, h, w, a, v):
        assert y[n, (i * w + j) * a + k, c] == (k * v + c + 1) * x[n, 0, i, j]


# -- targets through collate ---------------------------------------------------------------------

@pytest.mark.parametrize('kind', KINDS)
def test_positive_targets_decode_to_their_ground_truth_boxes(kind):
    """Matching/encoding round trip through collate, float64: every positive anchor's decoded
    target is a ground-truth box of its class; every box has a positive anchor; negatives and
    ignored anchors follow the IoU thresholds; user boxes in float64 reach a float32 model."""
    for precision in ('float64', 'float32'):
        m = make(kind, precision=precision, batch_size=4)
        samples = scenes(kind, 4, seed=3, min_shapes=1)
        batch = m.task.collate(m, samples)
        anchors, _ = m.task.anchors(m)
        assert anchors.dtype == np.dtype(precision) and batch['box_target'].dtype == anchors.dtype
        num_ignored = 0
        for i, s in enumerate(samples):
            gt = box_array(s, kind)
            labels = [m.class_ids.index(c) for c in s['bbox_label_id']]
            cls, w = batch['class_index'][i], batch['anchor_weight'][i]
            pos = np.flatnonzero(cls >= 0)
            decoded = decode(anchors[pos], batch['box_target'][i][pos], kind).astype(np.float64)
            iou = box_iou(anchors.astype(np.float64), gt, kind)
            # the box each positive anchor decodes to is the one with the smallest difference
            err = np.abs(decoded[:, None, :] - gt[None, :, :])
            if kind == 'rectangle2':
                d = err[:, :, 2] % (2 * np.pi)
                err[:, :, 2] = np.minimum(d, 2 * np.pi - d)
            which = np.argmin(err.max(axis=2), axis=1)
            tol = 1e-9 if precision == 'float64' else 2e-3 * (1 + np.abs(gt).max())
            assert err.max(axis=2)[np.arange(pos.size), which].max() <= tol
            assert [labels[j] for j in which] == cls[pos].tolist()
            assert set(which.tolist()) == set(range(len(gt)))
            np.testing.assert_array_equal(batch['box_weight'][i][pos], 1)
            others = np.setdiff1d(np.arange(anchors.shape[0]), pos)
            np.testing.assert_array_equal(batch['box_weight'][i][others], 0)
            np.testing.assert_array_equal(batch['box_target'][i][others], 0)
            best = iou.max(axis=1)             # thresholds 0.5 / 0.4, float32 IoU rounding
            assert np.all(cls[best >= 0.5 + 1e-6] >= 0)
            ignored = np.flatnonzero(w == 0)
            num_ignored += ignored.size
            assert np.all(cls[ignored] == -1)
            assert np.all((best[ignored] >= 0.4 - 1e-6) & (best[ignored] < 0.5 + 1e-6))
            negative = np.setdiff1d(others, ignored)
            assert np.all(best[negative] < 0.4 + 1e-6)
        assert num_ignored > 0


def test_image_without_boxes_gives_all_anchors_negative():
    m = make()
    samples = scenes('rectangle1', 2, seed=1)
    samples[0] = dict(samples[0], bbox_row1=[], bbox_col1=[], bbox_row2=[], bbox_col2=[],
                      bbox_label_id=[])
    batch = m.task.collate(m, samples)
    np.testing.assert_array_equal(batch['class_index'][0], -1)
    np.testing.assert_array_equal(batch['anchor_weight'][0], 1)
    np.testing.assert_array_equal(batch['box_weight'][0], 0)


def test_classes_without_orientation_train_their_enclosing_box_without_angle():
    m = make('rectangle2', precision='float64', anchor_angles=[0.0],
             class_ids_no_orientation=[5], batch_size=1)
    box = np.array([[15.0, 16.0, 0.5, 6.0, 3.0], [8.0, 8.0, 0.3, 4.0, 2.0]])
    sample = {'image': np.zeros((32, 32, 3), np.float32), 'bbox_row': box[:, 0],
              'bbox_col': box[:, 1], 'bbox_phi': box[:, 2], 'bbox_length1': box[:, 3],
              'bbox_length2': box[:, 4], 'bbox_label_id': [5, 3]}
    batch = m.task.collate(m, [sample])
    anchors, _ = m.task.anchors(m)
    cls = batch['class_index'][0]
    flat = np.flatnonzero(cls == 1)                       # class ID 5 is index 1
    turned = np.flatnonzero(cls == 0)
    assert flat.size and turned.size
    np.testing.assert_array_equal(batch['box_weight'][0][flat], [[1, 1, 1, 1, 0]] * flat.size)
    np.testing.assert_array_equal(batch['box_weight'][0][turned], 1)
    enclosing = rect1_to_rect2(rect2_to_rect1(box[:1]))[0]
    decoded = decode(anchors[flat], batch['box_target'][0][flat], 'rectangle2')
    np.testing.assert_allclose(decoded, np.broadcast_to(enclosing, decoded.shape), atol=1e-12)
    decoded = decode(anchors[turned], batch['box_target'][0][turned], 'rectangle2')
    np.testing.assert_allclose(decoded, np.broadcast_to(box[1], decoded.shape), atol=1e-12)


def test_ignore_direction_wraps_angle_targets_to_half_turn():
    box = np.array([[15.0, 16.0, 3.0, 8.0, 3.0]])       # 3 rad: a half turn from -0.14
    sample = {'image': np.zeros((32, 32, 3), np.float32), 'bbox_row': box[:, 0],
              'bbox_col': box[:, 1], 'bbox_phi': box[:, 2], 'bbox_length1': box[:, 3],
              'bbox_length2': box[:, 4], 'bbox_label_id': [3]}
    targets = {}
    for ignore in (False, True):
        m = make('rectangle2', precision='float64', anchor_angles=[0.0], batch_size=1,
                 ignore_direction=ignore)
        batch = m.task.collate(m, [sample])
        pos = batch['class_index'][0] >= 0
        targets[ignore] = batch['box_target'][0][pos, 4]
    np.testing.assert_allclose(targets[False], 3.0, atol=1e-12)
    np.testing.assert_allclose(targets[True], 3.0 - np.pi, atol=1e-12)


# -- losses --------------------------------------------------------------------------------------

def direct_losses(model, samples):
    """Focal and Huber losses per level from their definitions (float64 loops over levels), on
    the model's own outputs (a copy in training mode) and targets."""
    twin = copy.deepcopy(model)
    batch = twin.task.collate(twin, samples)
    out = twin.network(Tensor(batch['images']))
    alpha = np.asarray(model.get_param('class_weights'))
    cls, w = batch['class_index'], batch['anchor_weight']
    n_pos = max(1, int((cls >= 0).sum()))
    result, start = {}, 0
    for level, (logits, deltas) in out.items():
        z, d = logits.data.astype(np.float64), deltas.data.astype(np.float64)
        part = slice(start, start + z.shape[1])
        start = part.stop
        y = (cls[:, part, None] == np.arange(z.shape[2])).astype(np.float64)
        p = 1 / (1 + np.exp(-z))
        p_t = y * p + (1 - y) * (1 - p)
        a_t = y * alpha + (1 - y) * (1 - alpha)
        fl = -a_t * (1 - p_t) ** 2 * np.log(p_t)
        result[f'focal_loss_level_{level}'] = float((w[:, part, None] * fl).sum() / n_pos)
        diff = d - batch['box_target'][:, part]
        h = np.where(np.abs(diff) < 0.11, 0.5 * diff ** 2 / 0.11, np.abs(diff) - 0.055)
        result[f'huber_loss_level_{level}'] = float((batch['box_weight'][:, part] * h).sum() / n_pos)
    return result, n_pos


@pytest.mark.parametrize('kind', KINDS)
def test_losses_per_level_match_the_formulas_and_sum_to_the_totals(kind):
    cw, bw, alpha = 0.7, 1.9, 0.003
    m = make(kind, precision='float64', class_heads_weight=cw, bbox_heads_weight=bw,
             weight_prior=alpha, class_weights=[0.2, 0.5, 0.9], min_level=2, max_level=5)
    samples = scenes(kind, 2, seed=5, min_shapes=2)
    expected, n_pos = direct_losses(m, samples)
    assert n_pos > 1
    params = {k: v.copy() for k, v in m.parameters().items()}
    result = hdl.train_dl_model_batch(m, samples)
    levels = range(2, 6)
    assert set(result) == ({'total_loss', 'focal_loss', 'huber_loss', 'regularization_loss'}
                           | {f'{h}_loss_level_{lv}' for h in ('focal', 'huber') for lv in levels})
    assert all(type(v) is float for v in result.values())
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-10, abs=1e-14), key
    for head in ('focal', 'huber'):
        parts = sum(result[f'{head}_loss_level_{lv}'] for lv in levels)
        assert result[f'{head}_loss'] == pytest.approx(parts, rel=1e-12)
    reg = alpha / 2 * sum(float((v ** 2).sum()) for k, v in params.items()
                          if not (k.endswith('.bias') or k.endswith('.beta')))
    assert result['regularization_loss'] == pytest.approx(reg, rel=1e-12)
    assert result['total_loss'] == pytest.approx(
        cw * result['focal_loss'] + bw * result['huber_loss'] + reg, rel=1e-12)


def test_images_without_boxes_have_zero_huber_loss_and_focal_over_all_anchors():
    m = make(precision='float64')
    empty = [{'image': s['image'], 'bbox_row1': [], 'bbox_col1': [], 'bbox_row2': [],
              'bbox_col2': [], 'bbox_label_id': []} for s in scenes('rectangle1', 2, seed=2)]
    expected, n_pos = direct_losses(m, empty)
    assert n_pos == 1
    result = hdl.train_dl_model_batch(m, empty)
    assert result['huber_loss'] == 0.0
    assert all(result[f'huber_loss_level_{lv}'] == 0.0 for lv in (2, 3, 4))
    assert result['focal_loss'] > 0
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-10, abs=1e-14), key


@pytest.mark.parametrize('kind, multiplier', [('rectangle1', 1), ('rectangle2', 1),
                                              ('rectangle1', 2)])
def test_step_equals_minus_learning_rate_times_finite_difference_gradient(kind, multiplier):
    """The whole step from outside, float64, SGD with momentum 0: w_new - w = -λ ∂total/∂w,
    the derivative by central differences of total_loss on model copies."""
    lr = 0.05
    m = make(kind, precision='float64', momentum=0.0, learning_rate=lr, weight_prior=0.01,
             class_heads_weight=0.8, bbox_heads_weight=1.7, batch_size_multiplier=multiplier)
    samples = scenes(kind, 2 * multiplier, seed=7, min_shapes=1)
    rng = np.random.default_rng(0)
    before = {k: v.copy() for k, v in m.parameters().items()}
    names = [n for n in before if 'backbone.stages.0' in n or 'backbone.stages.3' in n
             or n.startswith(('fpn.', 'class_head.', 'box_head.'))]
    checks = []
    for name in names[::2]:
        index = tuple(int(rng.integers(s)) for s in before[name].shape)
        checks.append((name, index, total_loss_derivative(m, samples, name, index)))
    hdl.train_dl_model_batch(m, samples)
    after = m.parameters()
    assert len(checks) >= 8
    for name, index, fd in checks:
        step = after[name][index] - before[name][index]
        assert step == pytest.approx(-lr * fd, rel=1e-5, abs=1e-10), (name, index)


# -- inference -----------------------------------------------------------------------------------

def hand_made_outputs(model, picks):
    """Network outputs of one image: every logit -30 (confidence ~1e-13) and every offset 0,
    except ``picks``: {(level, anchor, class): (logit, offsets)}."""
    per_level = model.task.anchors(model)[1]
    k, d = len(model.class_ids), 4 if model.get_param('instance_type') == 'rectangle1' else 5
    out = {}
    for lv, anchors in per_level:
        logits = np.full((1, anchors.shape[0], k), -30.0)
        deltas = np.zeros((1, anchors.shape[0], d))
        for (plv, a, c), (z, off) in picks.items():
            if plv == lv:
                logits[0, a, c] = z
                deltas[0, a] = off
        out[lv] = (Tensor(logits), Tensor(deltas))
    return out


def anchor_index(model, level, row, col, k):
    """Index within ``level`` of anchor k of cell (row, col)."""
    width = -(-model.get_param('image_width') // 2 ** level)
    return (row * width + col) * model.task.num_anchors(model) + k


def test_inference_on_hand_made_outputs_gives_the_boxes_after_nms():
    m = make(precision='float64', min_confidence=0.5, max_overlap=0.5)
    anchors = dict(m.task.anchors(m)[1])
    a0 = anchor_index(m, 2, 3, 3, 0)            # 16 × 16 square centred on (13.5, 13.5)
    a1 = anchor_index(m, 2, 3, 4, 0)            # the same, 4 px to the right: IoU 0.6
    a2 = anchor_index(m, 3, 1, 1, 0)            # 32 × 32 square centred on (11.5, 11.5)
    shift = [0.25, 0.0, math.log(1.25), 0.0]    # down by 4 px, 25 % taller
    picks = {(2, a0, 0): (3.0, shift), (2, a1, 0): (2.0, [0, 0, 0, 0]),
             (2, a1, 1): (1.0, [0, 0, 0, 0]), (3, a2, 2): (0.0, [0, 0, 0, 0]),
             (3, a2, 1): (-1.0, [0, 0, 0, 0])}
    result = m.task.results(m, hand_made_outputs(m, picks))[0]
    # a0's decoded box: centre (17.5, 13.5), 20 × 16; a1's: centre (13.5, 17.5), 16 × 16:
    # IoU = 12·14 / (320 + 256 - 168) = 0.41 -> both kept in class 0; a1 in class 1 kept too;
    # a2 (confidence 0.5) is kept at min_confidence 0.5, clipped at -0.5; class-1 a2 is below
    sig = lambda z: 1 / (1 + math.exp(-z))      # noqa: E731
    assert result['bbox_confidence'] == pytest.approx([sig(3.0), sig(2.0), sig(1.0), 0.5])
    assert result['bbox_class_id'] == [3, 3, 5, 8]
    assert result['bbox_class_name'] == ['3', '3', '5', '8']
    expected = [(7.5, 5.5, 27.5, 21.5), (5.5, 9.5, 21.5, 25.5), (5.5, 9.5, 21.5, 25.5),
                (-0.5, -0.5, 27.5, 27.5)]
    got = list(zip(result['bbox_row1'], result['bbox_col1'], result['bbox_row2'],
                   result['bbox_col2']))
    np.testing.assert_allclose(got, expected, atol=1e-9)
    np.testing.assert_allclose(anchors[3][a2], [-4.5, -4.5, 27.5, 27.5])
    # class-agnostic NMS at 0.45: class 5's copy of a1 goes (IoU 1 with a1 in class 3); the
    # clipped a2 stays (IoU 320/784 = 0.41 with a0's box, 256/784 = 0.33 with a1's)
    hdl.set_dl_model_param(m, 'max_overlap_class_agnostic', 0.45)
    result = m.task.results(m, hand_made_outputs(m, picks))[0]
    assert result['bbox_class_id'] == [3, 3, 8]
    hdl.set_dl_model_param(m, 'max_overlap_class_agnostic', 0.4)
    assert m.task.results(m, hand_made_outputs(m, picks))[0]['bbox_class_id'] == [3]   # 0.408 > 0.4
    # ... and a within-class threshold of 0.4 suppresses a1 behind a0 (IoU 0.41 > 0.4)
    hdl.set_dl_model_param(m, 'max_overlap_class_agnostic', 1.0)
    hdl.set_dl_model_param(m, 'max_overlap', 0.4)
    result = m.task.results(m, hand_made_outputs(m, picks))[0]
    assert result['bbox_class_id'] == [3, 5, 8]
    hdl.set_dl_model_param(m, 'max_num_detections', 2)
    assert m.task.results(m, hand_made_outputs(m, picks))[0]['bbox_class_id'] == [3, 5]


def test_rectangle2_inference_decodes_angles_and_flattens_classes_without_orientation():
    m = make('rectangle2', precision='float64', min_confidence=0.5,
             class_ids_no_orientation=[8])
    anchors = dict(m.task.anchors(m)[1])
    a = anchor_index(m, 2, 4, 4, 9)             # angle π/4, subscale 0, ratio 1: first of 2nd angle
    b = anchor_index(m, 3, 2, 2, 0)
    np.testing.assert_allclose(anchors[2][a], [17.5, 17.5, math.pi / 4, 8, 8])
    picks = {(2, a, 0): (2.0, [0.1, -0.1, math.log(2), 0.0, 0.5]),
             (3, b, 2): (1.0, [0.0, 0.0, 0.0, 0.0, 0.7])}
    result = m.task.results(m, hand_made_outputs(m, picks))[0]
    assert result['bbox_class_id'] == [3, 8]
    first = [result[k][0] for k in ('bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1',
                                    'bbox_length2')]
    np.testing.assert_allclose(first, [17.5 + 1.6, 17.5 - 1.6, math.pi / 4 + 0.5, 16, 8])
    second = [result[k][1] for k in ('bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1',
                                     'bbox_length2')]
    np.testing.assert_allclose(second, [19.5, 19.5, 0.0, 16, 16])


def test_apply_returns_the_instance_type_keys_for_any_number_of_samples():
    for kind in KINDS:
        # every anchor is a candidate; no NMS (overlap 1.0) keeps the rotated IoU out of it
        m = make(kind, min_confidence=0.0, max_overlap=1.0, max_num_detections=5, batch_size=2)
        samples = scenes(kind, 3, seed=4)
        results = hdl.apply_dl_model(m, [{'image': s['image']} for s in samples])
        keys = (['bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2'] if kind == 'rectangle1'
                else ['bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1', 'bbox_length2'])
        assert len(results) == 3
        for r in results:
            assert set(r) == set(keys) | {'bbox_class_id', 'bbox_class_name', 'bbox_confidence'}
            assert len(r['bbox_confidence']) == 5
            assert r['bbox_confidence'] == sorted(r['bbox_confidence'], reverse=True)
            assert set(r['bbox_class_id']) <= {3, 5, 8}
            if kind == 'rectangle1':
                assert min(r['bbox_row1']) >= -0.5 and max(r['bbox_col2']) <= 31.5


# -- sample errors -------------------------------------------------------------------------------

def good_sample(kind):
    if kind == 'rectangle1':
        boxes = dict(bbox_row1=[2.0, 10.0], bbox_col1=[3.0, 4.0], bbox_row2=[12.0, 20.0],
                     bbox_col2=[9.0, 30.0])
    else:
        boxes = dict(bbox_row=[8.0, 20.0], bbox_col=[8.0, 15.0], bbox_phi=[0.1, -2.0],
                     bbox_length1=[5.0, 9.0], bbox_length2=[3.0, 2.0])
    return {'image': np.zeros((32, 32, 3), np.float32), 'image_id': 41,
            'bbox_label_id': [3, 8], **boxes}


BAD = {
    'rectangle1': [
        ('zero-area box', dict(bbox_row2=[2.0, 20.0]), 'bbox_row2', 'row1 < row2'),
        ('row1 > row2', dict(bbox_row1=[13.0, 10.0]), 'bbox_row2', 'row1 < row2'),
        ('col1 >= col2', dict(bbox_col1=[3.0, 30.0]), 'bbox_col2', 'col1 < col2'),
        ('mismatched lengths', dict(bbox_col1=[3.0]), 'bbox_col1', 'expected 2 values'),
        ('other instance type', dict(bbox_phi=[0.0, 0.0]), 'bbox_phi', 'belongs to rectangle2'),
        ('unknown label', dict(bbox_label_id=[3, 4]), 'bbox_label_id', 'unknown|among'),
        ('fractional label', dict(bbox_label_id=[3, 5.5]), 'bbox_label_id', 'integer'),
        ('missing key', dict(bbox_col2=None), 'bbox_col2', 'missing'),
        ('nan coordinate', dict(bbox_row1=[np.nan, 10.0]), 'bbox_row1', 'finite'),
        ('2-D array', dict(bbox_row1=np.zeros((2, 1))), 'bbox_row1', '1-D'),
        ('strings', dict(bbox_row1=['a', 'b']), 'bbox_row1', '1-D sequence of numbers'),
        ('scalar', dict(bbox_row1=2.0), 'bbox_row1', '1-D sequence'),
        ('wrong image', dict(image=np.zeros((32, 31, 3), np.float32)), 'image', 'shape'),
    ],
    'rectangle2': [
        ('negative length', dict(bbox_length1=[-5.0, 9.0]), 'bbox_length1', 'half lengths > 0'),
        ('zero length', dict(bbox_length2=[3.0, 0.0]), 'bbox_length2', 'half lengths > 0'),
        ('mismatched lengths', dict(bbox_phi=[0.1, 0.2, 0.3]), 'bbox_phi', 'expected 2 values'),
        ('other instance type', dict(bbox_row1=[1.0, 2.0]), 'bbox_row1', 'belongs to rectangle1'),
        ('unknown label', dict(bbox_label_id=[0, 8]), 'bbox_label_id', 'among'),
        ('inf angle', dict(bbox_phi=[np.inf, 0.0]), 'bbox_phi', 'finite'),
        ('missing labels', dict(bbox_label_id=None), 'bbox_label_id', 'missing'),
    ],
}


@pytest.mark.parametrize('kind, case', [(k, c) for k in KINDS for c in BAD[k]],
                         ids=[f'{k}-{c[0]}' for k in KINDS for c in BAD[k]])
def test_every_sample_violation_raises_and_leaves_the_model_bit_identical(kind, case):
    _, change, key, message = case
    m = make(kind)
    hdl.train_dl_model_batch(m, [good_sample(kind), good_sample(kind)])   # optimiser state exists
    before = snapshot(m)
    bad = dict(good_sample(kind))
    for k, v in change.items():
        if v is None:
            del bad[k]
        else:
            bad[k] = v
    with pytest.raises(hdl.HalconDLError, match=message) as err:
        hdl.train_dl_model_batch(m, [good_sample(kind), bad])
    assert 'sample 1 (image_id 41)' in str(err.value) and f"'{key}'" in str(err.value)
    assert_same_snapshot(before, snapshot(m))


def test_zero_boxes_as_empty_lists_or_arrays_are_valid():
    m = make()
    empty = dict(good_sample('rectangle1'), bbox_row1=[], bbox_col1=np.zeros(0),
                 bbox_row2=(), bbox_col2=[], bbox_label_id=np.zeros(0, dtype=np.int64))
    result = hdl.train_dl_model_batch(m, [empty, empty])
    assert result['huber_loss'] == 0.0 and math.isfinite(result['focal_loss'])


# -- determinism ---------------------------------------------------------------------------------

@pytest.mark.parametrize('kind', KINDS)
def test_cpu_training_and_inference_are_bit_identical_across_runs(kind):
    samples = scenes(kind, 4, seed=9)
    runs = []
    for _ in range(2):
        m = make(kind, solver_type='adam', learning_rate=0.01, min_confidence=0.3,
                 max_num_detections=20, anchor_angles=[0.0])
        losses = [hdl.train_dl_model_batch(m, samples[k:k + 2]) for k in (0, 2, 0)]
        runs.append((losses, snapshot(m), hdl.apply_dl_model(m, samples[:2])))
    assert runs[0][0] == runs[1][0]
    assert_same_snapshot(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2] and any(r['bbox_confidence'] for r in runs[0][2])
