"""Curves and pictures: valid PNGs when matplotlib/Pillow are there, clear errors otherwise."""
import struct
import sys

import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl import plot
from halcon_dl.testing.models import random_samples


def png_size(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR'
    return struct.unpack('>II', data[16:24])          # width, height


@pytest.fixture(scope='module')
def history():
    model = hdl.create_dl_model('classification', class_ids=[0, 1], image_width=6,
                                image_height=6, image_num_channels=3, batch_size=2)
    samples = random_samples(model, 4)
    return hdl.train_dl_model(model, samples, samples, epochs=3, progress=False)


def test_training_curves_are_a_png(tmp_path, history):
    pytest.importorskip('matplotlib')
    path = tmp_path / 'curves.png'
    plot.plot_training_history(history, str(path))
    width, height = png_size(path)
    assert (width, height) == (1000, 400)


def test_without_matplotlib_the_error_names_the_extra(tmp_path, history, monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    monkeypatch.setitem(sys.modules, 'matplotlib.figure', None)
    with pytest.raises(hdl.HalconDLError, match=r"'plot' extra"):
        plot.plot_training_history(history, str(tmp_path / 'x.png'))


@pytest.mark.parametrize('bad', [{}, {'epochs': []}, None])
def test_a_history_without_epochs_is_refused(tmp_path, bad):
    pytest.importorskip('matplotlib')
    with pytest.raises(hdl.HalconDLError, match='at least one epoch'):
        plot.plot_training_history(bad, str(tmp_path / 'x.png'))


def test_writing_into_a_missing_directory_is_a_clear_error(tmp_path, history):
    pytest.importorskip('matplotlib')
    with pytest.raises(hdl.HalconDLError, match='directory does not exist'):
        plot.plot_training_history(history, str(tmp_path / 'no' / 'x.png'))


def test_class_colours_are_distinct():
    colours = plot.class_colours(12)
    assert colours.dtype == np.uint8 and len({tuple(c) for c in colours}) == 12


def test_result_boxes_are_drawn_where_they_are(tmp_path):
    pytest.importorskip('matplotlib')
    Image = pytest.importorskip('PIL.Image')
    image = np.zeros((60, 60), np.float32)
    result = {'bbox_row1': [10.0], 'bbox_col1': [20.0], 'bbox_row2': [40.0],
              'bbox_col2': [50.0], 'bbox_class_id': [0], 'bbox_class_name': ['a'],
              'bbox_confidence': [0.9]}
    path = tmp_path / 'boxes.png'
    plot.draw_dl_results({'image': image}, result, str(path))
    pixels = np.asarray(Image.open(path).convert('RGB'), dtype=int)
    scale = pixels.shape[0] / 60.0                      # figure pixels per image pixel
    def at(r, c):
        return pixels[int((r + 0.5) * scale), int((c + 0.5) * scale)]
    assert at(25, 20).sum() > 0 and at(25, 50).sum() > 0     # on the left and right edges
    assert at(25, 35).sum() == 0 and at(5, 5).sum() == 0     # inside and outside: black image


def test_rectangle2_corners_follow_the_library_geometry():
    result = {'bbox_row': [30.0], 'bbox_col': [20.0], 'bbox_phi': [0.5], 'bbox_length1': [9.0],
              'bbox_length2': [4.0]}
    corners = plot._box_corners(result, 0)
    # the corners are 2·l1 and 2·l2 apart and centred on (row, col)
    assert np.allclose(corners.mean(axis=0), [30.0, 20.0])
    sides = np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)
    assert np.allclose(sorted(sides), [8, 8, 18, 18])
    # length1 runs along (-sin φ, cos φ)
    along = corners[0] - corners[1]
    assert np.allclose(along / np.linalg.norm(along), [-np.sin(0.5), np.cos(0.5)])


def test_segmentation_png_colours_each_class(tmp_path):
    Image = pytest.importorskip('PIL.Image')
    labels = np.array([[0, 3], [7, 3]])
    path = tmp_path / 'seg.png'
    plot.write_segmentation_png(labels, [0, 3, 7], str(path), size=(4, 4))
    pixels = np.asarray(Image.open(path).convert('RGB'))
    colours = plot.class_colours(8)                      # class ID k in colour k
    assert pixels.shape == (4, 4, 3)
    assert (pixels[:2, :2] == colours[0]).all() and (pixels[:2, 2:] == colours[3]).all()
    assert (pixels[2:, :2] == colours[7]).all() and (pixels[2:, 2:] == colours[3]).all()


def test_colour_of_a_class_does_not_depend_on_how_many_there_are():
    assert (plot.class_colours(3) == plot.class_colours(9)[:3]).all()


def test_classification_result_and_segmentation_legend_are_drawn_inside_the_picture(tmp_path):
    pytest.importorskip('matplotlib')
    Image = pytest.importorskip('PIL.Image')
    image = np.zeros((40, 40), np.float32)
    blank = tmp_path / 'blank.png'
    plot.draw_dl_results({'image': image}, {}, str(blank))
    labelled = tmp_path / 'labelled.png'
    plot.draw_dl_results({'image': image}, {'classification_class_names': ['star'],
                                            'classification_confidences': [0.9]}, str(labelled))
    a, b = (np.asarray(Image.open(p).convert('RGB'), dtype=int) for p in (blank, labelled))
    assert a.shape == b.shape and a.sum() == 0 and b.sum() > 0      # the label is on the canvas
    seg = tmp_path / 'seg.png'
    labels = np.zeros((40, 40), np.int64)
    plot.draw_dl_results({'image': image}, {'segmentation_image': labels}, str(seg),
                         class_ids=[0, 1], class_names=['background', 'shape'])
    c = np.asarray(Image.open(seg).convert('RGB'), dtype=int)
    colour = plot.class_colours(1)[0] / 2                             # blended at 50 % over black
    assert np.abs(c[-5, -5] - colour).max() <= 1                      # the class map
    assert np.abs(c[4, 4] - colour).max() > 1                         # the legend in the corner
