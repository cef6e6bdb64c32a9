"""Detection measures: hand-computed examples, AP against a plain loop reference, invariances."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halcon_dl import HalconDLError
from halcon_dl.detection import box_iou
from halcon_dl.evaluation import DetectionEvaluation, greedy_match

NAN = math.nan
THRESHOLDS = [(50 + 5 * i) / 100 for i in range(10)]


# ----------------------------------------------------------------------------- hand examples

def test_greedy_match_takes_best_free_box_per_threshold():
    iou = np.array([[0.6, 0.8, 0.0],      # row 0 takes column 1 where 0.8 qualifies (t = 0.5)
                    [0.9, 0.8, 0.0],      # column 1 taken at 0.5: row 1 takes column 0
                    [0.7, 0.7, 0.0]])     # at 0.5 both are taken, above 0.7 nothing qualifies
    match = greedy_match(iou, thresholds=(0.5, 0.85, 0.95))
    np.testing.assert_array_equal(match, [[1, -1, -1], [0, 0, -1], [-1, -1, -1]])
    # equal IoU: the first column; the second row finds only a taken box and one below 0.5
    np.testing.assert_array_equal(greedy_match(np.array([[0.6, 0.6], [0.6, 0.2]]), (0.5,)),
                                  [[0], [-1]])
    np.testing.assert_array_equal(greedy_match(np.zeros((2, 0)), (0.5,)), [[-1], [-1]])


def rect1_result(boxes, classes, scores):
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return {'bbox_row1': b[:, 0], 'bbox_col1': b[:, 1], 'bbox_row2': b[:, 2],
            'bbox_col2': b[:, 3], 'bbox_class_id': list(classes), 'bbox_confidence': list(scores)}


def rect1_sample(boxes, labels):
    out = rect1_result(boxes, labels, [])
    del out['bbox_class_id'], out['bbox_confidence']
    return dict(out, bbox_label_id=list(labels))


def test_hand_example_rectangle1():
    """Image A: truth (0,0,10,10) class 1; detections (0,0,10,10) class 1 at 0.9 (IoU 1) and
    (0,1,10,11) class 1 at 0.8 (IoU 90/110, but the box is taken: FP at every threshold).
    Image B: truth (0,0,10,10) class 1 and (20,20,30,30) class 2; detections (0,0,10,6.2)
    class 1 at 0.7 (IoU 0.62: TP for t ≤ 0.6) and (20,20,30,30) class 3 at 0.95 (no truth).
    Class 1, G = 2, by confidence TP FP TP (t ≤ 0.6): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    -> AP = (51·1 + 50·2/3) / 101; t ≥ 0.65: TP FP FP -> AP = 51/101.
    Class 2: truth, no detection -> 0.  Class 3: no truth -> NaN, left out of the means.
    """
    ev = DetectionEvaluation([1, 2, 3])
    samples = [rect1_sample([[0, 0, 10, 10]], [1]),
               rect1_sample([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 2])]
    results = [rect1_result([[0, 0, 10, 10], [0, 1, 10, 11]], [1, 1], [0.9, 0.8]),
               rect1_result([[0, 0, 10, 6.2], [20, 20, 30, 30]], [1, 3], [0.7, 0.95])]
    ev.update(samples, results)
    m = ev.measures()
    high, low = (51 + 50 * 2 / 3) / 101, 51 / 101
    class1 = (3 * high + 7 * low) / 10
    np.testing.assert_allclose(m['class_ap'], [class1, 0.0, NAN], rtol=1e-14)
    assert m['mean_ap'] == pytest.approx(class1 / 2, rel=1e-14)
    assert m['ap_iou_050'] == pytest.approx(high / 2, rel=1e-14)
    assert m['ap_iou_075'] == pytest.approx(low / 2, rel=1e-14)
    assert set(m) == {'mean_ap', 'ap_iou_050', 'ap_iou_075', 'class_ap'}


def test_soap_hand_example():
    """A square truth and a detection turned by π/4 (IoU ≈ 0.71): soap = 1 − (π/4)/π = 3/4.
    Turned by π − 0.1 instead: 1 − (π − 0.1)/π; with ignore_direction the difference wraps to
    −0.1 and the score is 1 − 0.1/(π/2).  A class in class_ids_no_orientation does not count."""
    truth = [[10.0, 10.0, 0.0, 4.0, 4.0]]

    def soap(phi, **kw):
        ev = DetectionEvaluation([1, 2], 'rectangle2', **kw)
        ev.add([[10.0, 10.0, phi, 4.0, 4.0]], [1], [0.9], truth, [1])
        ev.add([[50.0, 50.0, 1.0, 4.0, 4.0]], [2], [0.9], [[50.0, 50.0, 0.0, 4.0, 4.0]], [2])
        return ev.measures()['soap']

    assert soap(math.pi / 4, class_ids_no_orientation=[2]) == pytest.approx(0.75, rel=1e-14)
    assert soap(math.pi - 0.1, class_ids_no_orientation=[2]) == pytest.approx(
        1 - (math.pi - 0.1) / math.pi, rel=1e-12)
    assert soap(math.pi - 0.1, ignore_direction=True, class_ids_no_orientation=[2]) == \
        pytest.approx(1 - 0.1 / (math.pi / 2), rel=1e-12)
    assert soap(0.0) == pytest.approx((1 + 1 - 1 / math.pi) / 2, rel=1e-12)   # class 2 counted
    assert math.isnan(DetectionEvaluation([1], 'rectangle2').measures()['soap'])


# ---------------------------------------------------------------------- perfect / no detections

def random_truth(rng, instance_type, n):
    centre = rng.uniform(0, 100, (n, 2))
    half = rng.uniform(2, 20, (n, 2))
    if instance_type == 'rectangle1':
        return np.column_stack([centre - half, centre + half])
    return np.column_stack([centre, rng.uniform(-math.pi, math.pi, n), half])


@pytest.mark.parametrize('instance_type', ['rectangle1', 'rectangle2'])
def test_perfect_detections_give_one_and_none_give_zero(instance_type):
    rng = np.random.default_rng(1)
    perfect = DetectionEvaluation([4, 6, 8], instance_type)
    none = DetectionEvaluation([4, 6, 8], instance_type)
    wrong = DetectionEvaluation([4, 6, 8], instance_type)
    for n in (5, 0, 12, 3):
        truth, labels = random_truth(rng, instance_type, n), rng.choice([4, 6], n)
        perfect.add(truth, labels, rng.random(n), truth, labels)
        none.add(np.zeros((0, truth.shape[1])), [], [], truth, labels)
        wrong.add(truth, np.full(n, 8), rng.random(n), truth, labels)
    p, z, w = perfect.measures(), none.measures(), wrong.measures()
    assert p['mean_ap'] == p['ap_iou_050'] == p['ap_iou_075'] == 1.0
    np.testing.assert_array_equal(p['class_ap'], [1.0, 1.0, NAN])     # 8 has no truth
    for m in (z, w):
        assert m['mean_ap'] == m['ap_iou_050'] == m['ap_iou_075'] == 0.0
        np.testing.assert_array_equal(m['class_ap'], [0.0, 0.0, NAN])
    if instance_type == 'rectangle2':
        assert p['soap'] == 1.0 and math.isnan(z['soap']) and math.isnan(w['soap'])


# -------------------------------------------------------------------- plain loop reference

def iou_rect1_loop(a, b):
    inter = (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def iou_rect2_pair(a, b):
    """The library's exact rotated IoU (checked against exact rationals in tests/detection)."""
    return float(box_iou(np.array([a]), np.array([b]), 'rectangle2')[0, 0])


def wrap(delta, half):
    while delta > half:
        delta -= 2 * half
    while delta <= -half:
        delta += 2 * half
    return delta


def reference(images, class_ids, instance_type, ignore_direction):
    """AP per (class, threshold) and soap by plain loops, from the definitions.

    images: list of (detections [(box, class, score)], truth [(box, class)])."""
    iou = iou_rect1_loop if instance_type == 'rectangle1' else iou_rect2_pair
    half = math.pi / 2 if ignore_direction else math.pi
    ap, angle_scores = {}, []
    for c in class_ids:
        n_truth = sum(1 for _, truth in images for g in truth if g[1] == c)
        for ti, t in enumerate(THRESHOLDS):
            records = []
            for dets, truth in images:
                mine = sorted([d for d in dets if d[1] == c], key=lambda d: -d[2])   # stable
                gts = [g for g in truth if g[1] == c]
                taken = [False] * len(gts)
                for box, _, score in mine:
                    best = None
                    for j, (gbox, _) in enumerate(gts):
                        v = iou(box, gbox)
                        if not taken[j] and v >= t and (best is None or v > best[1]):
                            best = (j, v)
                    if best is not None:
                        taken[best[0]] = True
                        if ti == 0 and instance_type == 'rectangle2':
                            delta = wrap(box[2] - gts[best[0]][0][2], half)
                            angle_scores.append(1 - abs(delta) / half)
                    records.append((score, best is not None))
            if n_truth == 0:
                ap[c, t] = NAN
                continue
            points = []
            for s in sorted({r[0] for r in records}, reverse=True):
                tp = sum(1 for r in records if r[0] >= s and r[1])
                points.append((tp, tp / sum(1 for r in records if r[0] >= s)))
            ap[c, t] = sum(max([p for tp, p in points if 100 * tp >= j * n_truth], default=0.0)
                           for j in range(101)) / 101
    return ap, angle_scores


@st.composite
def detection_data(draw, instance_type):
    class_ids = draw(st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True))
    scores = st.sampled_from([0.2, 0.5, 0.7, 0.9]) | st.floats(0.05, 1.0)   # ties included

    def box():
        r, c = draw(st.integers(0, 20)), draw(st.integers(0, 20))
        h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
        if instance_type == 'rectangle1':
            return [float(r), float(c), float(r + h), float(c + w)]
        return [float(r), float(c), draw(st.sampled_from([0.0, 0.4, -1.2, 3.0])), h / 2, w / 2]

    def near(b):
        b = list(b)
        b[0] += draw(st.sampled_from([0, 0, 0.5, 1, -2]))
        b[1] += draw(st.sampled_from([0, 0, 0.5, -1]))
        if instance_type == 'rectangle1':
            b[2] = max(b[2] + draw(st.sampled_from([0, 0, 1, -0.5])), b[0] + 0.5)
        else:
            b[2] += draw(st.sampled_from([0.0, 0.0, 0.1, -0.3, math.pi, -3.0]))
        return b

    images = []
    for _ in range(draw(st.integers(1, 4))):
        truth = []
        for _ in range(draw(st.integers(0, 4))):        # overlapping truth boxes too, so that
            if truth and draw(st.booleans()):            # which box a detection takes matters
                truth.append((near(draw(st.sampled_from(truth))[0]), truth[-1][1]))
            else:
                truth.append((box(), draw(st.sampled_from(class_ids))))
        dets = []
        for _ in range(draw(st.integers(0, 7))):
            if truth and draw(st.booleans()):
                g = draw(st.sampled_from(truth))
                cls = g[1] if draw(st.integers(0, 3)) else draw(st.sampled_from(class_ids))
                dets.append((near(g[0]), cls, draw(scores)))
            else:
                dets.append((box(), draw(st.sampled_from(class_ids)), draw(scores)))
        images.append((dets, truth))
    return class_ids, images


def feed(ev, images, width):
    for dets, truth in images:
        ev.add(np.array([d[0] for d in dets]).reshape(-1, width), [d[1] for d in dets],
               [d[2] for d in dets], np.array([g[0] for g in truth]).reshape(-1, width),
               [g[1] for g in truth])


def check_against_reference(instance_type, data, ignore_direction, random):
    class_ids, images = data
    width = 4 if instance_type == 'rectangle1' else 5
    ev = DetectionEvaluation(class_ids, instance_type, ignore_direction)
    feed(ev, images, width)
    ap, angle_scores = reference(images, class_ids, instance_type, ignore_direction)
    want = np.array([[ap[c, t] for t in THRESHOLDS] for c in class_ids])
    np.testing.assert_allclose(ev.class_ap(), want, rtol=1e-12, atol=1e-15)
    got = ev.measures()
    defined = ~np.isnan(want[:, 0])
    if defined.any():
        assert got['mean_ap'] == pytest.approx(want[defined].mean(), rel=1e-12, abs=1e-15)
        assert got['ap_iou_050'] == pytest.approx(want[defined, 0].mean(), rel=1e-12, abs=1e-15)
        assert got['ap_iou_075'] == pytest.approx(want[defined, 5].mean(), rel=1e-12, abs=1e-15)
    else:
        assert math.isnan(got['mean_ap'])
    if instance_type == 'rectangle2':
        if angle_scores:
            assert got['soap'] == pytest.approx(np.mean(angle_scores), rel=1e-12, abs=1e-15)
        else:
            assert math.isnan(got['soap'])
    # the same images reordered, with empty images between them: the same measures
    shuffled = images + [([], [])] * 2
    random.shuffle(shuffled)
    again = DetectionEvaluation(class_ids, instance_type, ignore_direction)
    feed(again, shuffled, width)
    np.testing.assert_array_equal(again.class_ap(), ev.class_ap())
    if instance_type == 'rectangle2':
        np.testing.assert_allclose(again.measures()['soap'], got['soap'], rtol=1e-14)


@settings(max_examples=60)
@given(detection_data('rectangle1'), st.randoms(use_true_random=False))
def test_rectangle1_against_loop_reference(data, random):
    check_against_reference('rectangle1', data, False, random)


@settings(max_examples=40)
@given(detection_data('rectangle2'), st.booleans(), st.randoms(use_true_random=False))
def test_rectangle2_against_loop_reference(data, ignore_direction, random):
    check_against_reference('rectangle2', data, ignore_direction, random)


# ------------------------------------------------------------------------------------ errors

def test_errors():
    ev = DetectionEvaluation([1, 2])
    with pytest.raises(HalconDLError, match=r'sample 7 \(image_id 3\).*equal lengths'):
        ev.update([dict(rect1_sample([[0, 0, 1, 1]], [1]), image_id=3)],
                  [rect1_result([[0, 0, 1, 1]], [1, 1], [0.5])], start=7)
    with pytest.raises(HalconDLError, match=r"sample 0: key 'bbox_label_id': missing"):
        ev.update([{k: v for k, v in rect1_sample([], []).items() if k != 'bbox_label_id'}],
                  [rect1_result([], [], [])])
    with pytest.raises(HalconDLError, match=r"key 'bbox_class_id'.*\[5\]"):
        ev.add([[0, 0, 1, 1]], [5], [0.5], np.zeros((0, 4)), [])
    with pytest.raises(HalconDLError, match="unknown measure 'soap' for a rectangle1"):
        ev.measures(['soap'])
    with pytest.raises(HalconDLError, match='instance_type'):
        DetectionEvaluation([1], 'rectangle3')
