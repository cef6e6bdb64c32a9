"""evaluate_dl_model: streaming over apply_dl_model in batches, for every model type."""
import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl import HalconDLError
from halcon_dl.evaluation import (ClassificationEvaluation, DetectionEvaluation,
                                  SegmentationEvaluation, evaluate_dl_model)
from halcon_dl.testing.models import random_samples


def test_exported():
    assert hdl.evaluate_dl_model is evaluate_dl_model and 'evaluate_dl_model' in hdl.__all__


def test_classification_model_agrees_with_apply_results():
    """On a real model: the measures equal those counted directly from apply_dl_model's results,
    for any batch size, from a list or a generator."""
    model = hdl.create_dl_model('classification', class_ids=[2, 4, 6], image_width=8,
                                image_height=8, image_num_channels=1, batch_size=5, seed=3)
    samples = random_samples(model, 23, seed=1)
    results = hdl.apply_dl_model(model, samples)
    top1 = [r['classification_class_ids'][0] for r in results]
    truth = [s['image_label_id'] for s in samples]
    counts = np.zeros((3, 3), dtype=np.int64)
    for p, g in zip(top1, truth):
        counts[[2, 4, 6].index(p), [2, 4, 6].index(g)] += 1
    top2_misses = sum(g not in r['classification_class_ids'][:2] for g, r in zip(truth, results))
    assert len(set(top1)) > 1                       # the check is not about one constant class
    for batch_size, stream in ((5, samples), (1, iter(samples)), (8, (s for s in samples))):
        hdl.set_dl_model_param(model, 'batch_size', batch_size)
        m = evaluate_dl_model(model, stream, ['all', 'top2_error'])
        np.testing.assert_array_equal(m['absolute_confusion_matrix'], counts)
        assert m['top1_error'] == pytest.approx(np.mean(np.array(top1) != np.array(truth)))
        assert m['top2_error'] == pytest.approx(top2_misses / 23)
        recall = np.diag(counts) / counts.sum(axis=0)
        np.testing.assert_allclose(m['recall_per_class'], recall)


class StoredResultsModel:
    """A stand-in model whose 'inference' returns the result stored in each sample, recording
    the chunks it is given (segmentation and detection models do not exist yet)."""

    def __init__(self, type, params, produced):
        self.type, self.params, self.produced, self.chunks = type, params, produced, []

    def get_param(self, name):
        if name not in self.params:
            raise HalconDLError(f'unknown parameter {name!r}')
        return self.params[name]

    def apply(self, samples):
        self.chunks.append((len(samples), self.produced[0]))
        return [s['stored_result'] for s in samples]


def segmentation_samples(rng, n):
    for i in range(n):
        truth = rng.choice([0, 1, 2, 9], (4, 6))
        yield {'image_id': i, 'segmentation_image': truth,
               'stored_result': {'segmentation_image': rng.choice([0, 1, 2], (4, 6))}}


def detection_samples(rng, n):
    for i in range(n):
        k, m = rng.integers(0, 6), rng.integers(0, 4)
        truth = np.column_stack([rng.uniform(0, 20, (m, 2)), rng.uniform(-3, 3, m),
                                 rng.uniform(1, 6, (m, 2))])
        dets = np.concatenate([truth + rng.normal(0, 0.3, truth.shape).clip(-0.5, 0.5),
                               np.column_stack([rng.uniform(0, 20, (k, 2)), rng.uniform(-3, 3, k),
                                                rng.uniform(1, 6, (k, 2))])])
        names = ['row', 'col', 'phi', 'length1', 'length2']
        sample = {f'bbox_{c}': truth[:, j].tolist() for j, c in enumerate(names)}
        sample['bbox_label_id'] = rng.choice([1, 3], m).tolist()
        result = {f'bbox_{c}': dets[:, j].tolist() for j, c in enumerate(names)}
        result.update(bbox_class_id=rng.choice([1, 3], m + k).tolist(),
                      bbox_confidence=rng.random(m + k).tolist())
        yield dict(sample, stored_result=result, image_id=i)


def counted(generator, produced):
    for s in generator:
        produced[0] += 1
        yield s


@pytest.mark.parametrize('kind', ['segmentation', 'detection'])
def test_other_types_stream_in_batches(kind):
    """Results and ground truth reach the type's accumulator; the samples are consumed lazily,
    one batch at a time; the result does not depend on the batch size."""
    rng_seed, n = 5, 27
    if kind == 'segmentation':
        params = {'class_ids': [1, 2, 0], 'ignore_class_ids': [9], 'batch_size': 4}
        make = segmentation_samples
        direct = SegmentationEvaluation([1, 2, 0], [9])
    else:
        params = {'class_ids': [1, 3], 'instance_type': 'rectangle2', 'ignore_direction': True,
                  'batch_size': 4}
        make = detection_samples
        direct = DetectionEvaluation([1, 3], 'rectangle2', ignore_direction=True)
    samples = list(make(np.random.default_rng(rng_seed), n))
    direct.update(samples, [s['stored_result'] for s in samples])
    want = direct.measures()
    for batch_size in (4, 1, 10, 64):
        produced = [0]
        model = StoredResultsModel(kind, dict(params, batch_size=batch_size), produced)
        got = evaluate_dl_model(model, counted(make(np.random.default_rng(rng_seed), n),
                                               produced))
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-14, err_msg=key)
        sizes = [size for size, _ in model.chunks]
        assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size
                                                            else [])
        # when chunk k is applied, only the samples up to it have been read from the stream
        assert [seen for _, seen in model.chunks] == list(np.cumsum(sizes))


def test_measures_checked_before_inference_and_bad_input():
    model = StoredResultsModel('detection', {'class_ids': [1], 'batch_size': 2}, [0])
    with pytest.raises(HalconDLError, match="unknown measure 'soap' for a rectangle1"):
        evaluate_dl_model(model, detection_samples(np.random.default_rng(0), 3), 'soap')
    assert model.chunks == []
    with pytest.raises(HalconDLError, match='at least one sample'):
        evaluate_dl_model(model, [])
    with pytest.raises(HalconDLError, match="type 'ocr'.*'classification'"):
        evaluate_dl_model(StoredResultsModel('ocr', {}, [0]), [])
    cls = StoredResultsModel('classification', {'class_ids': [0, 1], 'batch_size': 2}, [0])
    bad = [{'image_label_id': 0, 'stored_result': {'classification_class_ids': [0, 1]}},
           {'image_label_id': 0, 'stored_result': {'classification_class_ids': [0, 1]}},
           {'image_label_id': 7, 'image_id': 40,
            'stored_result': {'classification_class_ids': [1, 0]}}]
    with pytest.raises(HalconDLError, match=r"sample 2 \(image_id 40\): key 'image_label_id'"):
        evaluate_dl_model(cls, bad)
    assert isinstance(ClassificationEvaluation.from_model(cls), ClassificationEvaluation)


def test_one_dict_instead_of_a_list_is_named_like_the_operators():
    model = hdl.create_dl_model('classification', class_ids=[0, 1], image_width=4,
                                image_height=4, image_num_channels=3)
    with pytest.raises(HalconDLError, match='evaluate_dl_model: expected a sequence of sample '
                                            'dicts, got one dict'):
        hdl.evaluate_dl_model(model, random_samples(model, 1)[0])
    with pytest.raises(HalconDLError, match="'top\\{k\\}_error' for any k"):
        hdl.evaluate_dl_model(model, random_samples(model, 2), ['top_error'])
