"""What the evaluations of all model types share: class-ID lookup, the 0/0 rule of per-class
ratios, measure selection and defensive reading of model parameters.

Evaluation runs on the host in float64 / int64: user data (lists, float32 or CuPy arrays) is
converted once, when it is added.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import to_numpy
from ..errors import HalconDLError
from ..samples import describe


class ClassIndex:
    """Maps class IDs (arbitrary integers) to their position in ``class_ids``.

    ``ignore_ids`` map to -1 (pixels to leave out); any other value is an error.  Lookup is a
    binary search over the sorted IDs, so label images of any size are mapped in one pass.
    """

    def __init__(self, class_ids, ignore_ids=()):
        self.class_ids = [int(c) for c in class_ids]
        self.ignore_ids = sorted(int(c) for c in ignore_ids)
        known = self.class_ids + self.ignore_ids
        if not self.class_ids or len(set(known)) != len(known):
            raise HalconDLError('class_ids must be non-empty and distinct, and ignore_class_ids '
                                f'disjoint from them; got {self.class_ids} and {self.ignore_ids}')
        order = np.argsort(known)
        self._sorted = np.asarray(known, dtype=np.int64)[order]
        self._target = np.asarray(list(range(len(self.class_ids))) + [-1] * len(self.ignore_ids),
                                  dtype=np.int64)[order]

    def __len__(self):
        return len(self.class_ids)

    def index(self, ids, key: str):
        """Positions (int64, same shape) of the IDs in ``ids``; -1 for ignored IDs.

        Raises HalconDLError naming ``key`` when a value is not a listed ID (non-integral floats
        included)."""
        ids = to_numpy(ids)
        if ids.dtype.kind not in 'iuf' and ids.size:
            raise HalconDLError(f"key '{key}': expected integer class IDs, got dtype {ids.dtype}")
        pos = np.clip(np.searchsorted(self._sorted, ids), 0, len(self._sorted) - 1)
        known = self._sorted[pos] == ids
        if not known.all():
            bad = np.unique(ids[~known])[:5].tolist()
            allowed = 'class IDs' + (' or ignore_class_ids' if self.ignore_ids else '')
            raise HalconDLError(f"key '{key}': expected {allowed} in "
                                f'{sorted(self.class_ids + self.ignore_ids)}, got {bad}')
        return self._target[pos]


def safe_ratio(num, den, evaluated):
    """Per-class ``num / den`` (float64) with the rule shared by all per-class measures:

    * a class is *evaluated* when it occurs in the ground truth or in the predictions;
    * for an evaluated class a ratio 0/0 is 0 (nothing found, or nothing correct);
    * a class that is not evaluated gets NaN and is left out of every mean.
    """
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    ratio = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.where(evaluated, ratio, np.nan)


def mean_of_defined(values) -> float:
    """Mean of the non-NaN entries; NaN when there are none (the mean is then undefined)."""
    values = np.asarray(values, dtype=np.float64)
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan


def floats(values) -> list:
    """A per-class array as a list of Python floats (NaN kept)."""
    return [float(v) for v in np.asarray(values, dtype=np.float64)]


def select_measures(asked, valid, default, model_type: str, extra=None) -> list:
    """The measure names to report: ``asked`` (None: ``default``; a name; a list of names, where
    'all' stands for every name in ``valid``) checked against ``valid``; ``extra(name)`` may
    accept further names (e.g. 'top5_error').  Unknown names raise HalconDLError listing the
    valid ones.
    """
    if asked is None:
        return list(default)
    names = [asked] if isinstance(asked, str) else list(asked)
    if 'all' in names:
        names = [n for n in names if n != 'all'] + [n for n in valid if n not in names]
    for name in names:
        if name not in valid and not (extra and extra(name)):
            raise HalconDLError(f'unknown measure {name!r} for a {model_type} model; valid: '
                                f"{list(valid)}"
                                + (", 'top{k}_error' for any k >= 1" if model_type ==
                                   'classification' else '') + " or 'all'")
    return list(dict.fromkeys(names))


def model_param(model, name, default):
    """``model.get_param(name)``, or ``default`` where the model does not have the parameter."""
    try:
        return model.get_param(name)
    except (HalconDLError, KeyError, AttributeError):
        return default


def per_sample(samples, results, start, add_one):
    """Call ``add_one(sample, result)`` for each pair; an error is re-raised naming the sample
    by its position in the whole stream (``start`` + index) and its image_id."""
    if len(samples) != len(results):
        raise HalconDLError(f'got {len(samples)} samples but {len(results)} results')
    for k, (sample, result) in enumerate(zip(samples, results)):
        if not isinstance(sample, dict) or not isinstance(result, dict):
            raise HalconDLError(f'{describe({}, start + k)}: samples and results must be dicts')
        try:
            add_one(sample, result)
        except HalconDLError as exc:
            raise HalconDLError(f'{describe(sample, start + k)}: {exc}') from None


def require(mapping, key, what: str):
    """``mapping[key]``; a HalconDLError saying the ``what`` (sample / result) lacks it."""
    if key not in mapping:
        raise HalconDLError(f"key '{key}': missing in the {what}")
    return mapping[key]
