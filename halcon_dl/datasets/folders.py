"""Data sets from folders of image files (HALCON's ``read_dl_dataset_classification``,
``read_dl_dataset_segmentation``, ``split_dl_dataset`` and ``read_dl_samples``).

A DLDataset is a dict: ``image_dir``, ``class_ids``, ``class_names`` and ``samples``, one dict
per image with ``image_id`` (0..N−1), ``image_file_name`` (relative to ``image_dir``, with '/'
separators) and the label (``image_label_id``, or ``segmentation_file_name`` relative to
``segmentation_dir``).  Reading a data set only lists files; :func:`read_dl_samples` loads the
pixels of the samples asked for, so training can load one batch at a time and a data set
larger than memory still trains.

Files: the extensions in :data:`IMAGE_EXTENSIONS` (any case), found recursively (links
followed) and sorted by their relative path.  Pixels are read with Pillow (the optional extra
``images``): 8-bit grey → uint8 (H, W); RGB → uint8 (H, W, 3); RGBA and grey+alpha → the alpha
channel is dropped; palette, CMYK and YCbCr images → RGB; 1-bit → uint8 0/255; 16-bit grey →
uint16 (H, W); 32-bit float → float32.  Only the first frame of a multi-frame file is read, EXIF
orientation is not applied (pixels as stored), and Pillow reduces 16-bit colour PNGs to 8 bits.
Label images are read as stored (grey values or palette indices, never converted to colour).
"""
from __future__ import annotations

import copy
import math
import numbers
import os
import re

import numpy as np

from ..backend import make_rng
from ..errors import HalconDLError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
LABEL_SOURCES = ('last_folder', 'file_name', 'file_name_remove_index')
SPLITS = ('train', 'validation', 'test')


# ----------------------------------------------------------------------------- reading data sets

def read_dl_dataset_classification(image_dir, label_source='last_folder') -> dict:
    """A classification DLDataset of every image under ``image_dir`` (a folder or a list).

    ``label_source``: 'last_folder' — the name of the folder holding the image;
    'file_name' — the file name without extension; 'file_name_remove_index' — that name with
    trailing digits and underscores removed ('apple_017.png' → 'apple').  ``class_names`` are
    the distinct labels sorted, ``class_ids`` 0..K−1 in that order.  With several folders
    ``image_dir`` is their deepest common parent.
    """
    if label_source not in LABEL_SOURCES:
        raise HalconDLError(f'label_source must be one of {list(LABEL_SOURCES)}, '
                            f'got {label_source!r}')
    base, files = _list_images(image_dir, 'image_dir')
    labels = [_label_of(path, label_source) for path in files]
    class_names = sorted(set(labels))
    index = {name: i for i, name in enumerate(class_names)}
    samples = [{'image_id': i, 'image_file_name': _relative(path, base),
                'image_label_id': index[label]}
               for i, (path, label) in enumerate(zip(files, labels))]
    return {'image_dir': base, 'class_ids': list(range(len(class_names))),
            'class_names': class_names, 'samples': samples}


def read_dl_dataset_segmentation(image_dir, segmentation_dir, class_ids, class_names) -> dict:
    """A segmentation DLDataset: the images under ``image_dir`` with their label images under
    ``segmentation_dir``.

    Matching rule: an image and a label image belong together when their file names without
    extension are equal ('a.jpg' ↔ 'a.png'), wherever they lie below the two folders.  A name
    that occurs twice on one side, or an image without a label image, is an error naming the
    file(s); label images without an image are ignored.  (HALCON's procedure takes the class
    names before the IDs; here, as in ``create_dl_model``, the IDs come first.)
    """
    ids = _check_class_ids(class_ids)
    names = _check_class_names(class_names, len(ids))
    base, files = _list_images(image_dir, 'image_dir')
    label_base, label_files = _list_images(segmentation_dir, 'segmentation_dir')
    labels = _by_stem(label_files, 'segmentation_dir')
    _by_stem(files, 'image_dir')
    samples = []
    for i, path in enumerate(files):
        stem = _stem(path)
        if stem not in labels:
            raise HalconDLError(f"image file '{path}' has no label image named '{stem}.*' "
                                f"under segmentation_dir '{label_base}'")
        samples.append({'image_id': i, 'image_file_name': _relative(path, base),
                        'segmentation_file_name': _relative(labels[stem], label_base)})
    return {'image_dir': base, 'segmentation_dir': label_base, 'class_ids': ids,
            'class_names': names, 'samples': samples}


# ----------------------------------------------------------------------------- splitting

def split_dl_dataset(dataset, train_percent, validation_percent, seed=0) -> dict:
    """A copy of ``dataset`` whose samples carry ``split``: 'train', 'validation' or 'test'.

    Classification (every sample has ``image_label_id``) is split per class, ascending by ID;
    other data sets as one group.  For a group of n samples permuted with one generator
    ``make_rng(seed)`` (drawn group after group), the first ``n_train = ⌊n·train_percent/100 +
    0.5⌋`` go to 'train', the next ``n_val = min(⌊n·validation_percent/100 + 0.5⌋, n − n_train)``
    to 'validation' and the rest to 'test'.  The input is not changed.
    """
    samples = _dataset_samples(dataset)
    train = _percent(train_percent, 'train_percent')
    validation = _percent(validation_percent, 'validation_percent')
    if 0 < train < 1 and validation < 1:
        raise HalconDLError(f'train_percent and validation_percent are percentages (0..100), '
                            f'got {train_percent!r} and {validation_percent!r}: did you mean '
                            f'{100 * train:g} and {100 * validation:g}?')
    if train + validation > 100:
        raise HalconDLError(f'train_percent + validation_percent must be at most 100, got '
                            f'{train} + {validation}')
    if all(isinstance(s, dict) and 'image_label_id' in s for s in samples):
        keys = np.array([s['image_label_id'] for s in samples])
    else:
        keys = np.zeros(len(samples), dtype=np.int64)
    rng = make_rng(seed)
    split = np.empty(len(samples), dtype=object)
    for key in np.unique(keys):
        members = np.flatnonzero(keys == key)
        members = members[rng.permutation(members.size)]
        n_train = math.floor(members.size * train / 100 + 0.5)
        n_val = min(math.floor(members.size * validation / 100 + 0.5), members.size - n_train)
        split[members[:n_train]] = 'train'
        split[members[n_train:n_train + n_val]] = 'validation'
        split[members[n_train + n_val:]] = 'test'
    out = copy.deepcopy(dataset)
    for sample, part in zip(out['samples'], split):
        sample['split'] = part
    return out


# ----------------------------------------------------------------------------- loading pixels

def read_dl_samples(dataset, indices) -> list:
    """DLSample dicts for ``dataset['samples'][i]``, i in ``indices``: each sample's keys plus
    ``image`` read from its file (and ``segmentation_image`` from its label file), as NumPy
    arrays of the file's type (module doc).  Pass the result through ``preprocess_dl_samples``
    to bring it to a model."""
    samples = _dataset_samples(dataset)
    if isinstance(indices, numbers.Integral):
        indices = [indices]
    out = []
    for index in indices:
        if not isinstance(index, numbers.Integral) or isinstance(index, bool) \
                or not 0 <= index < len(samples):
            raise HalconDLError(f'read_dl_samples: index {index!r} is not a sample index '
                                f'0..{len(samples) - 1}')
        record = samples[index]
        sample = copy.deepcopy(record)
        path = _file(dataset, record, index, 'image_dir', 'image_file_name')
        sample['image'] = read_image_file(path)
        if 'segmentation_file_name' in record:
            label_path = _file(dataset, record, index, 'segmentation_dir', 'segmentation_file_name')
            labels = read_image_file(label_path, label=True)
            if labels.shape != sample['image'].shape[:2]:
                raise HalconDLError(f"label image '{label_path}' has size {labels.shape}, its "
                                    f"image '{path}' {sample['image'].shape[:2]}")
            sample['segmentation_image'] = labels
        out.append(sample)
    return out


class DLSampleSequence:
    """The samples ``indices`` of a DLDataset as a sequence of ready DLSample dicts: item k is
    read from its files (``read_dl_samples``) and preprocessed (``preprocess_dl_samples`` with
    ``preprocess_param``) when it is asked for, so a data set larger than memory trains.

    ``cache_bytes``: preprocessed samples are kept in memory while their images together take at
    most this many bytes (default 512 MiB; 0 keeps none), so a small data set is read from disk
    once and a large one is read again each epoch.
    """

    def __init__(self, dataset, indices, preprocess_param, cache_bytes: int = 512 << 20):
        from ..preprocess import check_preprocess_param
        _dataset_samples(dataset)
        self.dataset, self.indices = dataset, [int(i) for i in indices]
        self.param = check_preprocess_param(preprocess_param)
        self.cache, self.cache_left = {}, int(cache_bytes)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        cached = self.cache.get(k)
        if cached is not None:
            return cached
        from ..preprocess import preprocess_dl_samples
        sample = preprocess_dl_samples(read_dl_samples(self.dataset, [self.indices[k]]),
                                       self.param)[0]
        if sample['image'].nbytes <= self.cache_left:
            self.cache[k] = sample
            self.cache_left -= sample['image'].nbytes
        return sample

    def __iter__(self):
        return (self[k] for k in range(len(self)))


def read_image_file(path, label=False):
    """The pixels of one image file as a NumPy array (module doc); ``label`` reads a label
    image: one channel, values as stored.  An unreadable file raises ``HalconDLError``
    naming it."""
    image_module = _pillow()
    try:
        with image_module.open(path) as image:
            image.load()
            return _pixels(image, label, path)
    except (OSError, ValueError, SyntaxError, image_module.DecompressionBombError) as exc:
        if isinstance(exc, HalconDLError):
            raise
        raise HalconDLError(f"cannot read image file '{path}': {exc}") from None


def _pixels(image, label, path):
    mode = image.mode
    if label:
        if mode not in ('L', 'P', 'I', 'I;16', 'I;16L', 'I;16B'):
            raise HalconDLError(f"label image '{path}' has mode {mode!r}: expected one channel "
                                '(8- or 16-bit grey, or palette indices)')
        labels = np.array(image)
        labels = labels.astype(labels.dtype.newbyteorder('='), copy=False)
        return _grey16(labels, path) if mode == 'I' else labels
    if mode in ('RGBA', 'LA', 'P', 'PA', 'CMYK', 'YCbCr', 'RGBX', 'RGBa', 'La'):
        image = image.convert('L' if mode.startswith('L') else 'RGB')
    elif mode == '1':
        image = image.convert('L')
    elif mode not in ('L', 'RGB', 'I', 'I;16', 'I;16L', 'I;16B', 'F'):
        raise HalconDLError(f"image file '{path}' has mode {mode!r}: expected grey, RGB(A), "
                            '16-bit grey or float')
    pixels = np.array(image)
    pixels = pixels.astype(pixels.dtype.newbyteorder('='), copy=False)   # 'I;16B' is big-endian
    return _grey16(pixels, path) if image.mode == 'I' else pixels


def _grey16(pixels, path):
    """Pillow's 32-bit integer mode holds 16-bit grey files: uint16 if the values fit."""
    if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise HalconDLError(f"image file '{path}' holds values outside 0..65535 "
                            f'({pixels.min()}..{pixels.max()}): expected 8- or 16-bit grey')
    return pixels.astype(np.uint16)


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise HalconDLError("image files need Pillow: pip install 'halcon-dl[images]' "
                            '(the optional extra images)') from None
    return Image


# ----------------------------------------------------------------------------- helpers

def _list_images(folders, what):
    """(base, files): the image files under one folder or a list of folders, sorted by path
    relative to ``base``, the folders' deepest common parent."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    folders = [os.path.abspath(os.fspath(f)) for f in folders]
    if not folders:
        raise HalconDLError(f'{what}: expected a folder or a list of folders, got none')
    files = set()
    for folder in folders:
        if not os.path.isdir(folder):
            raise HalconDLError(f"{what}: '{folder}' is not a folder")
        for root, _, names in os.walk(folder, followlinks=True):
            files.update(os.path.join(root, n) for n in names
                         if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS)
    if not files:
        raise HalconDLError(f'{what}: no image files ({", ".join(IMAGE_EXTENSIONS)}) under '
                            + ', '.join(f"'{f}'" for f in folders))
    base = os.path.commonpath(folders) if len(folders) > 1 else folders[0]
    return base, sorted(files, key=lambda p: _relative(p, base))


def _relative(path, base):
    return os.path.relpath(path, base).replace(os.sep, '/')


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def _label_of(path, label_source):
    if label_source == 'last_folder':
        return os.path.basename(os.path.dirname(path))
    label = _stem(path)
    if label_source == 'file_name_remove_index':
        label = re.sub(r'[0-9_]+$', '', label)
    if not label:
        raise HalconDLError(f"image file '{path}': label_source {label_source!r} leaves no "
                            'class name')
    return label


def _by_stem(files, what):
    found = {}
    for path in files:
        stem = _stem(path)
        if stem in found:
            raise HalconDLError(f"{what}: '{found[stem]}' and '{path}' have the same name "
                                f"'{stem}': images and label images are matched by name")
        found[stem] = path
    return found


def _check_class_ids(class_ids):
    ids = list(class_ids) if hasattr(class_ids, '__iter__') else None
    if not ids or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool)
                          and i >= 0 for i in ids) or len(set(ids)) != len(ids):
        raise HalconDLError(f'class_ids must be distinct integers >= 0, got {class_ids!r} '
                            '(the IDs come before the names)')
    return [int(i) for i in ids]


def _check_class_names(class_names, count):
    names = list(class_names) if hasattr(class_names, '__iter__') \
        and not isinstance(class_names, str) else None
    if names is None or len(names) != count or not all(isinstance(n, str) for n in names):
        raise HalconDLError(f'class_names must be {count} strings, one per class ID, '
                            f'got {class_names!r}')
    return names


def _dataset_samples(dataset):
    if not isinstance(dataset, dict) or not isinstance(dataset.get('samples'), list):
        raise HalconDLError('expected a DLDataset dict with a list under "samples", got '
                            f'{type(dataset).__name__}')
    if not dataset['samples']:
        raise HalconDLError('the data set has no samples')
    return dataset['samples']


def _percent(value, name):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) \
            or not 0 <= value <= 100:
        raise HalconDLError(f'{name} must be a number in [0, 100], got {value!r}')
    return float(value)


def _file(dataset, record, index, dir_key, name_key):
    if not isinstance(record, dict) or not isinstance(record.get(name_key), str):
        raise HalconDLError(f"sample {index}: key '{name_key}': expected a file name")
    if not isinstance(dataset.get(dir_key), str):
        raise HalconDLError(f"the data set's '{dir_key}' is missing or not a path")
    return os.path.join(dataset[dir_key], record[name_key])


__all__ = ['read_dl_dataset_classification', 'read_dl_dataset_segmentation', 'split_dl_dataset',
           'read_dl_samples', 'read_image_file', 'IMAGE_EXTENSIONS', 'LABEL_SOURCES']
