"""Data sets from folders: listing, labels, stratified splits, loading pixels exactly as written,
clear errors naming the file, and a folder of PNGs that trains and predicts."""
import copy
import os
import sys

import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.datasets import make_shapes_dataset, read_image_file
from halcon_dl.errors import HalconDLError


@pytest.fixture
def pil():
    return pytest.importorskip('PIL.Image')


def touch(path, data=b''):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def write_png(pil, path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pil.fromarray(array).save(path)


# ----------------------------------------------------------------------------- listing (no Pillow)

def test_classification_labels_from_folders_sorted(tmp_path):
    for rel in ('zebra/b.png', 'zebra/a.PNG', 'apple/x/deep.jpg', 'apple/1.bmp', 'mango/m.tiff',
                'mango/notes.txt'):
        touch(str(tmp_path / rel))
    ds = hdl.read_dl_dataset_classification(str(tmp_path))
    assert ds['image_dir'] == str(tmp_path)
    assert ds['class_names'] == ['apple', 'mango', 'x', 'zebra'] and ds['class_ids'] == [0, 1, 2, 3]
    assert [(s['image_id'], s['image_file_name'], s['image_label_id']) for s in ds['samples']] == [
        (0, 'apple/1.bmp', 0), (1, 'apple/x/deep.jpg', 2), (2, 'mango/m.tiff', 1),
        (3, 'zebra/a.PNG', 3), (4, 'zebra/b.png', 3)]


def test_label_from_file_names_and_several_folders(tmp_path):
    for rel in ('one/apple_01.png', 'one/apple_2.png', 'two/b2b_0_7.png', 'two/pear.png'):
        touch(str(tmp_path / 'base' / rel))
    dirs = [str(tmp_path / 'base' / 'one'), tmp_path / 'base' / 'two']
    ds = hdl.read_dl_dataset_classification(dirs, 'file_name_remove_index')
    assert ds['image_dir'] == str(tmp_path / 'base')
    assert ds['class_names'] == ['apple', 'b2b', 'pear']     # trailing digits and '_' removed
    assert [s['image_file_name'] for s in ds['samples']] == [
        'one/apple_01.png', 'one/apple_2.png', 'two/b2b_0_7.png', 'two/pear.png']
    assert [s['image_label_id'] for s in ds['samples']] == [0, 0, 1, 2]
    names = hdl.read_dl_dataset_classification(dirs, 'file_name')['class_names']
    assert names == ['apple_01', 'apple_2', 'b2b_0_7', 'pear']


def test_listing_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(HalconDLError, match="'.*missing' is not a folder"):
        hdl.read_dl_dataset_classification(str(tmp_path / 'missing'))
    touch(str(tmp_path / 'empty' / 'readme.txt'))
    with pytest.raises(HalconDLError, match='no image files'):
        hdl.read_dl_dataset_classification(str(tmp_path / 'empty'))
    with pytest.raises(HalconDLError, match='label_source'):
        hdl.read_dl_dataset_classification(str(tmp_path), 'folder')
    touch(str(tmp_path / 'idx' / '_01.png'))
    with pytest.raises(HalconDLError, match="_01.png'.*leaves no class name"):
        hdl.read_dl_dataset_classification(str(tmp_path / 'idx'), 'file_name_remove_index')


def test_segmentation_matching_by_name(tmp_path):
    for rel in ('img/a.jpg', 'img/sub/b.png', 'lab/a.png', 'lab/other/b.png', 'lab/extra.png'):
        touch(str(tmp_path / rel))
    ds = hdl.read_dl_dataset_segmentation(str(tmp_path / 'img'), str(tmp_path / 'lab'),
                                          [0, 1], ['bg', 'fg'])
    assert ds['segmentation_dir'] == str(tmp_path / 'lab')
    assert [(s['image_file_name'], s['segmentation_file_name']) for s in ds['samples']] == [
        ('a.jpg', 'a.png'), ('sub/b.png', 'other/b.png')]
    with pytest.raises(HalconDLError, match='IDs come before the names'):
        hdl.read_dl_dataset_segmentation(str(tmp_path / 'img'), str(tmp_path / 'lab'),
                                         ['bg', 'fg'], [0, 1])
    with pytest.raises(HalconDLError, match='class_names must be 2 strings'):
        hdl.read_dl_dataset_segmentation(str(tmp_path / 'img'), str(tmp_path / 'lab'),
                                         [0, 1], ['bg'])
    touch(str(tmp_path / 'img' / 'c.png'))
    with pytest.raises(HalconDLError, match=r"image file '.*c\.png' has no label image"):
        hdl.read_dl_dataset_segmentation(str(tmp_path / 'img'), str(tmp_path / 'lab'), [0], ['x'])
    touch(str(tmp_path / 'lab' / 'c.png'))
    touch(str(tmp_path / 'lab' / 'c.bmp'))
    with pytest.raises(HalconDLError, match=r"c\.bmp' and '.*c\.png' have the same name"):
        hdl.read_dl_dataset_segmentation(str(tmp_path / 'img'), str(tmp_path / 'lab'), [0], ['x'])


# ----------------------------------------------------------------------------- splitting

def counts(ds, label):
    parts = [s['split'] for s in ds['samples'] if s['image_label_id'] == label]
    return tuple(parts.count(p) for p in ('train', 'validation', 'test'))


def test_split_is_stratified_and_leaves_the_input_unchanged():
    labels = [0] * 10 + [1] * 7 + [2] * 3 + [5] * 1
    ds = {'image_dir': '/x', 'class_ids': [0, 1, 2, 5], 'class_names': list('abcd'),
          'samples': [{'image_id': i, 'image_label_id': l} for i, l in enumerate(labels)]}
    before = copy.deepcopy(ds)
    out = hdl.split_dl_dataset(ds, 60, 25, seed=3)
    assert ds == before
    # n_train = floor(0.6 n + 0.5), n_val = min(floor(0.25 n + 0.5), n - n_train)
    assert [counts(out, k) for k in (0, 1, 2, 5)] == [(6, 3, 1), (4, 2, 1), (2, 1, 0), (1, 0, 0)]
    assert out == hdl.split_dl_dataset(ds, 60, 25, seed=3)
    assert [s['split'] for s in out['samples']] != \
        [s['split'] for s in hdl.split_dl_dataset(ds, 60, 25, seed=4)['samples']]
    rounding = hdl.split_dl_dataset(ds, 50, 50)                 # 0.5·n + 0.5 twice for n = 7
    assert counts(rounding, 1) == (4, 3, 0) and counts(rounding, 5) == (1, 0, 0)


def test_split_without_labels_is_one_group_and_bad_percentages_fail():
    ds = {'image_dir': '/x', 'samples': [{'image_id': i} for i in range(10)]}
    parts = [s['split'] for s in hdl.split_dl_dataset(ds, 70, 20)['samples']]
    assert (parts.count('train'), parts.count('validation'), parts.count('test')) == (7, 2, 1)
    for train, val, message in ((80, 30, 'at most 100'), (-1, 0, 'train_percent'),
                                (50, '10', 'validation_percent')):
        with pytest.raises(HalconDLError, match=message):
            hdl.split_dl_dataset(ds, train, val)
    with pytest.raises(HalconDLError, match='no samples'):
        hdl.split_dl_dataset({'samples': []}, 50, 50)


# ----------------------------------------------------------------------------- loading pixels

def test_pillow_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'PIL', None)
    with pytest.raises(HalconDLError, match=r"pip install 'halcon-dl\[images\]'"):
        read_image_file(str(tmp_path / 'a.png'))


def test_modes_are_loaded_as_documented(tmp_path, pil):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    deep = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    for name, array in (('grey.png', grey), ('rgb.png', rgb), ('rgba.png', rgba),
                        ('deep.png', deep), ('rgb.bmp', rgb), ('rgb.tif', rgb)):
        write_png(pil, str(tmp_path / name), array)
    for name, expected in (('grey.png', grey), ('rgb.png', rgb), ('rgba.png', rgba[..., :3]),
                           ('deep.png', deep), ('rgb.bmp', rgb), ('rgb.tif', rgb)):
        loaded = read_image_file(str(tmp_path / name))
        assert loaded.dtype == expected.dtype, name
        np.testing.assert_array_equal(loaded, expected, err_msg=name)


def test_unreadable_files_are_named(tmp_path, pil):
    write_png(pil, str(tmp_path / 'good.png'), np.zeros((40, 40, 3), np.uint8))
    data = (tmp_path / 'good.png').read_bytes()
    touch(str(tmp_path / 'garbage.png'), b'not an image at all')
    touch(str(tmp_path / 'truncated.png'), data[:len(data) // 2])
    for name in ('garbage.png', 'truncated.png', 'absent.png'):
        with pytest.raises(HalconDLError, match=f"cannot read image file '.*{name}'"):
            read_image_file(str(tmp_path / name))
    write_png(pil, str(tmp_path / 'colour_label.png'), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(HalconDLError, match="label image '.*colour_label.png' has mode 'RGB'"):
        read_image_file(str(tmp_path / 'colour_label.png'), label=True)


def test_segmentation_samples_load_and_mismatched_sizes_are_named(tmp_path, pil):
    rng = np.random.default_rng(1)
    images = {'a': rng.integers(0, 65536, (6, 9), dtype=np.uint16),
              'b': rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)}
    labels = {'a': rng.choice(np.array([0, 2, 9], np.uint8), (6, 9)),
              'b': rng.choice(np.array([0, 2], np.uint8), (6, 9))}
    for stem in images:
        write_png(pil, str(tmp_path / 'img' / f'{stem}.png'), images[stem])
        write_png(pil, str(tmp_path / 'lab' / f'{stem}.png'), labels[stem])
    ds = hdl.read_dl_dataset_segmentation(str(tmp_path / 'img'), str(tmp_path / 'lab'),
                                          [0, 2, 9], ['bg', 'x', 'y'])
    loaded = hdl.read_dl_samples(ds, [1, 0])
    assert [s['image_id'] for s in loaded] == [1, 0]
    for sample, stem in zip(loaded, 'ba'):
        np.testing.assert_array_equal(sample['image'], images[stem])
        np.testing.assert_array_equal(sample['segmentation_image'], labels[stem])
        assert sample['image_file_name'] == f'{stem}.png'
    p = hdl.create_dl_preprocess_param('segmentation', 4, 3, 3, ignore_class_ids=[9])
    out = hdl.preprocess_dl_samples(loaded, p)
    assert out[1]['image'].shape == (3, 4, 3)
    assert set(np.unique(out[1]['segmentation_image'])) <= {0, 2, 9}
    write_png(pil, str(tmp_path / 'lab' / 'a.png'), labels['a'][:5])
    with pytest.raises(HalconDLError, match=r"label image '.*a\.png' has size \(5, 9\)"):
        hdl.read_dl_samples(ds, [0])
    for index in (2, -1, 'a', True):
        with pytest.raises(HalconDLError, match='not a sample index'):
            hdl.read_dl_samples(ds, [index])


# ----------------------------------------------------------------------------- end to end

def test_folder_of_pngs_reads_splits_loads_exactly_trains_and_predicts(tmp_path, pil):
    names = ('circle', 'square', 'star')
    generated = make_shapes_dataset(24, image_size=32, num_channels=3, seed=7, class_names=names,
                                    value_range=(0, 255))
    written = {}
    for i, sample in enumerate(generated):
        pixels = sample['image'].astype(np.uint8)              # integral levels 0..255
        assert np.array_equal(pixels, sample['image'])
        if i % 4 == 1:
            pixels = pixels[..., 0]                            # some grey files
        rel = f"{names[sample['image_label_id']]}/img_{i:02d}.png"
        write_png(pil, str(tmp_path / rel), pixels)
        written[rel] = pixels

    ds = hdl.read_dl_dataset_classification(str(tmp_path))
    assert ds['class_names'] == sorted(names) and ds['class_ids'] == [0, 1, 2]
    for s in ds['samples']:
        assert ds['class_names'][s['image_label_id']] == s['image_file_name'].split('/')[0]

    ds = hdl.split_dl_dataset(ds, 50, 25, seed=0)
    for label in range(3):
        assert counts(ds, label) == (4, 2, 2)                  # 8 per class
    train = [i for i, s in enumerate(ds['samples']) if s['split'] == 'train']

    loaded = hdl.read_dl_samples(ds, train)
    for sample in loaded:
        expected = written[sample['image_file_name']]
        assert sample['image'].dtype == np.uint8
        np.testing.assert_array_equal(sample['image'], expected)   # PNG is lossless

    model = hdl.create_dl_model('classification', class_ids=ds['class_ids'],
                                class_names=ds['class_names'], image_width=24, image_height=20,
                                image_num_channels=3, batch_size=len(train))
    batch = hdl.preprocess_dl_samples(loaded, hdl.create_dl_preprocess_param_from_model(model))
    assert all(s['image'].shape == (20, 24, 3) and s['image'].dtype == np.float32 for s in batch)
    assert min(s['image'].min() for s in batch) >= -127 and max(s['image'].max() for s in batch) <= 128
    before = {k: v.copy() for k, v in model.parameters().items()}
    losses = hdl.train_dl_model_batch(model, batch)
    assert np.isfinite(losses['total_loss'])
    assert any(not np.array_equal(before[k], v) for k, v in model.parameters().items())
    results = hdl.apply_dl_model(model, batch[:3])
    assert len(results) == 3
    for r in results:
        assert sorted(r['classification_class_ids']) == [0, 1, 2]
        assert sorted(r['classification_class_names']) == sorted(names)


def test_fractions_instead_of_percentages_are_refused():
    dataset = {'samples': [{'image_label_id': i % 2, 'image_file_name': f'{i}.png'}
                           for i in range(10)], 'class_ids': [0, 1], 'class_names': ['a', 'b'],
               'image_dir': '.'}
    with pytest.raises(HalconDLError, match='did you mean 70 and 15'):
        hdl.split_dl_dataset(dataset, 0.7, 0.15)
    assert {s['split'] for s in hdl.split_dl_dataset(dataset, 70, 15)['samples']} >= {'train'}
