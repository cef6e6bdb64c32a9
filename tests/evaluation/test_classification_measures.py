"""Classification measures against a hand-computed example and a brute-force reference."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halcon_dl import HalconDLError
from halcon_dl.evaluation import ClassificationEvaluation

NAN = math.nan


def test_hand_example():
    """Class IDs [3, 5, 7, 9]; 9 never occurs.  Images (truth: ranking):
    3: [3, 5, 7, 9]   3: [5, 3, 7, 9]   3: [7, 5, 9, 3]   5: [5, 7, 3, 9]   5: [7, 5, 3, 9]
    7: [7, 3, 5, 9]  -> rank of the truth 0, 1, 3, 0, 1, 0.
    Confusion (rows predicted, columns truth, order 3 5 7 9):
        pred 3: [1 0 0 0]   pred 5: [1 1 0 0]   pred 7: [1 1 1 0]   pred 9: [0 0 0 0]
    precision: 3 -> 1/1, 5 -> 1/2, 7 -> 1/3;  recall: 3 -> 1/3, 5 -> 1/2, 7 -> 1/1.
    f: 3 -> 2·1·(1/3)/(4/3) = 1/2, 5 -> 1/2, 7 -> 2·(1/3)/(4/3) = 1/2.  9: NaN, left out.
    """
    ev = ClassificationEvaluation([3, 5, 7, 9])
    ev.add([3, 3, 3, 5, 5, 7], [[3, 5, 7, 9], [5, 3, 7, 9], [7, 5, 9, 3], [5, 7, 3, 9],
                                [7, 5, 3, 9], [7, 3, 5, 9]])
    m = ev.measures(['all', 'top2_error', 'top4_error', 'top3_error'])
    assert m['top1_error'] == pytest.approx(3 / 6)
    assert m['top2_error'] == pytest.approx(1 / 6)
    assert m['top3_error'] == pytest.approx(1 / 6)
    assert m['top4_error'] == 0.0
    np.testing.assert_array_equal(m['absolute_confusion_matrix'],
                                  [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(m['relative_confusion_matrix'],
                               [[1 / 3, 0, 0, 0], [1 / 3, 1 / 2, 0, 0], [1 / 3, 1 / 2, 1, 0],
                                [0, 0, 0, 0]])
    np.testing.assert_allclose(m['precision_per_class'], [1, 1 / 2, 1 / 3, NAN])
    np.testing.assert_allclose(m['recall_per_class'], [1 / 3, 1 / 2, 1, NAN])
    np.testing.assert_allclose(m['f_score_per_class'], [1 / 2, 1 / 2, 1 / 2, NAN])
    assert m['precision'] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert m['recall'] == pytest.approx((1 / 3 + 1 / 2 + 1) / 3)
    assert m['f_score'] == pytest.approx(1 / 2)


def test_class_predicted_but_absent_counts_zero():
    """A class only predicted (never true) and one only true (never predicted) are evaluated
    and get 0 where their ratio is 0/0; the mean includes them."""
    ev = ClassificationEvaluation([0, 1, 2])
    ev.add([0, 1], [[0, 1, 2], [2, 1, 0]])     # class 1 never predicted, class 2 never true
    m = ev.measures()
    np.testing.assert_allclose(m['precision_per_class'], [1, 0, 0])
    np.testing.assert_allclose(m['recall_per_class'], [1, 0, 0])
    np.testing.assert_allclose(m['f_score_per_class'], [1, 0, 0])
    assert m['precision'] == pytest.approx(1 / 3)
    assert set(m) == {'top1_error', 'precision', 'precision_per_class', 'recall',
                      'recall_per_class', 'f_score', 'f_score_per_class',
                      'absolute_confusion_matrix', 'relative_confusion_matrix'}


def reference(class_ids, truths, rankings, ks):
    """Brute force from the definitions: loops over images and classes."""
    k = len(class_ids)
    pos = {c: i for i, c in enumerate(class_ids)}
    conf = [[0] * k for _ in range(k)]
    for t, r in zip(truths, rankings):
        conf[pos[r[0]]][pos[t]] += 1
    out = {f'top{q}_error': sum(1 for t, r in zip(truths, rankings) if t not in r[:q])
           / len(truths) for q in ks}
    prec, rec, f = [], [], []
    for c in range(k):
        predicted = sum(conf[c][g] for g in range(k))
        true = sum(conf[p][c] for p in range(k))
        if predicted + true == 0:
            prec.append(NAN), rec.append(NAN), f.append(NAN)
            continue
        pc = conf[c][c] / predicted if predicted else 0.0
        rc = conf[c][c] / true if true else 0.0
        prec.append(pc), rec.append(rc), f.append(2 * pc * rc / (pc + rc) if pc + rc else 0.0)
    for name, vals in (('precision', prec), ('recall', rec), ('f_score', f)):
        defined = [v for v in vals if not math.isnan(v)]
        out[name] = sum(defined) / len(defined)
        out[f'{name}_per_class'] = vals
    out['absolute_confusion_matrix'] = conf
    out['relative_confusion_matrix'] = [
        [conf[p][g] / sum(conf[q][g] for q in range(k)) if sum(conf[q][g] for q in range(k))
         else 0.0 for g in range(k)] for p in range(k)]
    return out


@st.composite
def classification_data(draw):
    k = draw(st.integers(1, 5))
    class_ids = draw(st.lists(st.integers(0, 40), min_size=k, max_size=k, unique=True))
    n = draw(st.integers(1, 25))
    depth = draw(st.integers(1, k))                 # rankings may be truncated
    truths = [draw(st.sampled_from(class_ids)) for _ in range(n)]
    rankings = [draw(st.permutations(class_ids))[:depth] for _ in range(n)]
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return class_ids, truths, rankings, cuts


@settings(max_examples=80)
@given(classification_data())
def test_against_brute_force(data):
    class_ids, truths, rankings, cuts = data
    ev = ClassificationEvaluation(class_ids)
    bounds = [0] + cuts + [len(truths)]
    for a, b in zip(bounds[:-1], bounds[1:]):           # streamed in arbitrary chunks
        if b > a:
            ev.add(truths[a:b], rankings[a:b])
    ks = [1, 2, len(class_ids) + 1]
    got = ev.measures(['all'] + [f'top{q}_error' for q in ks])
    want = reference(class_ids, truths, rankings, ks)
    assert set(got) == set(want)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-12, atol=0, err_msg=key)


def test_update_names_the_sample_and_key():
    ev = ClassificationEvaluation([0, 1])
    samples = [{'image_label_id': 0}, {'image_label_id': 4, 'image_id': 12}]
    results = [{'classification_class_ids': [0, 1]}] * 2
    with pytest.raises(HalconDLError, match=r"sample 6 \(image_id 12\).*image_label_id.*\[4\]"):
        ev.update(samples, results, start=5)
    with pytest.raises(HalconDLError, match='classification_class_ids.*missing'):
        ev.update([{'image_label_id': 0}], [{}])
    with pytest.raises(HalconDLError, match="unknown measure 'top0_error'"):
        ev.measures(['top0_error'])
