"""Pictures of training and of results: curves (matplotlib, extra ``plot``), results drawn over
their images (matplotlib) and colour-coded class maps (Pillow, extra ``images``).

Figures are made with matplotlib's object interface and its Agg canvas, never through pyplot,
so nothing here changes a user's matplotlib backend or global state.
"""
from __future__ import annotations

import colorsys
import os

import numpy as np

from .errors import HalconDLError


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise HalconDLError("plotting needs matplotlib: install the 'plot' extra "
                            "(pip install 'halcon-dl[plot]')") from None
    return Figure, FigureCanvasAgg


def _save(figure, canvas_class, path):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise HalconDLError(f"cannot write '{path}': the directory does not exist")
    canvas_class(figure).print_png(path)


def class_colours(count: int) -> np.ndarray:
    """``count`` distinct RGB colours (uint8, (count, 3)): hues spaced by the golden angle, so
    neighbouring class indices get very different colours, at two alternating lightnesses.
    Colour k does not depend on ``count``: class ID k is drawn in colour k everywhere."""
    hues = (np.arange(count) * 0.381966) % 1.0
    rgb = [colorsys.hls_to_rgb(h, 0.45 if k % 2 else 0.6, 0.75) for k, h in enumerate(hues)]
    return np.round(np.asarray(rgb, dtype=np.float64).reshape(count, 3) * 255).astype(np.uint8)


def plot_training_history(history: dict, path) -> None:
    """A PNG with two panels per epoch: the mean losses (log scale) and the validation measures
    that are single numbers (with the learning rate on a second axis of the first panel)."""
    Figure, Canvas = _matplotlib()
    records = history.get('epochs') if isinstance(history, dict) else None
    if not records:
        raise HalconDLError('plot_training_history needs the history of train_dl_model with at '
                            'least one epoch')
    epochs = [r['epoch'] for r in records]
    figure = Figure(figsize=(10, 4), dpi=100)
    losses, measures = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for name in records[0]['losses']:
        values = [r['losses'].get(name) for r in records]
        if all(v is not None and v > 0 for v in values):
            losses.plot(epochs, values, marker='.', label=name)
    losses.set_yscale('log')
    losses.set_xlabel('epoch')
    losses.set_title('training losses (mean per epoch)')
    rate = losses.twinx()
    rate.plot(epochs, [r['learning_rate'] for r in records], color='grey', linestyle=':',
              label='learning rate')
    rate.set_yscale('log')
    rate.set_ylabel('learning rate')
    lines, labels = losses.get_legend_handles_labels()
    more, more_labels = rate.get_legend_handles_labels()
    losses.legend(lines + more, labels + more_labels, fontsize='small')
    evaluated = [r for r in records if r.get('validation')]
    names = [k for k, v in (evaluated[0]['validation'].items() if evaluated else ())
             if isinstance(v, (int, float)) and not isinstance(v, bool)]
    for name in names:
        measures.plot([r['epoch'] for r in evaluated],
                      [r['validation'].get(name) for r in evaluated], marker='o', label=name)
    best = history.get('best')
    if best:
        measures.axvline(best['epoch'], color='grey', linestyle='--', linewidth=0.8,
                         label=f"best ({best['measure']})")
    measures.set_xlabel('epoch')
    measures.set_title('validation')
    if names or best:
        measures.legend(fontsize='small')
    figure.tight_layout()
    _save(figure, Canvas, path)


def _display_image(image) -> np.ndarray:
    """An (H, W, 3) float image in [0, 1] for display: each image stretched to its own range."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[:, :, :3]
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def draw_dl_results(sample: dict, result: dict, path, class_ids=None, class_names=None) -> None:
    """A PNG of ``sample['image']`` with ``result`` drawn over it: detection boxes (rectangle1
    axis-aligned, rectangle2 rotated, labelled with class and confidence), a segmentation's class
    map blended at 50 % (class ID k in colour k of :func:`class_colours`, with a legend naming
    the classes when ``class_ids`` and ``class_names`` are given), or the top class and its
    confidence (classification), written in the image's top-left corner."""
    Figure, Canvas = _matplotlib()
    if not isinstance(sample, dict) or 'image' not in sample or not isinstance(result, dict):
        raise HalconDLError('draw_dl_results needs a sample dict with an image and its result dict')
    image = _display_image(sample['image'])
    h, w = image.shape[:2]
    figure = Figure(figsize=(6, 6 * h / w), dpi=100)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_axis_off()
    legend = []
    if 'segmentation_image' in result:
        labels = np.asarray(result['segmentation_image'])
        ids = [int(v) for v in np.unique(labels)]
        colours = class_colours(max(ids) + 1) / 255.0
        overlay = np.zeros_like(image)
        for value in ids:
            overlay[labels == value] = colours[value]
        image = 0.5 * image + 0.5 * overlay
        if class_ids is not None and class_names is not None:
            names = dict(zip(class_ids, class_names))
            legend = [(names.get(v, str(v)), colours[v]) for v in ids]
    axes.imshow(image, interpolation='nearest', extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    if 'bbox_class_id' in result:
        ids = list(result['bbox_class_id'])
        names = result.get('bbox_class_name', [str(i) for i in ids])
        palette = class_colours(max(ids) + 1 if ids else 1) / 255.0
        for j, cid in enumerate(ids):
            corners = _box_corners(result, j)
            colour = palette[cid]
            axes.add_patch(_polygon(corners, colour))
            top = corners[:, 0].min()                   # label above the box, or inside it at
            inside = top < 0.08 * h                     # its top when that is off the image
            axes.text(max(corners[:, 1].min(), -0.5), max(top, -0.5) if inside else top - 1,
                      f"{names[j]} {float(result['bbox_confidence'][j]):.2f}", color='white',
                      fontsize=8, va='top' if inside else 'bottom',
                      bbox=dict(facecolor=colour, alpha=0.7, pad=1, linewidth=0))
    if 'classification_class_names' in result:
        legend = [(f"{result['classification_class_names'][0]} "
                   f"{result['classification_confidences'][0]:.2f}", (0.2, 0.2, 0.2))]
    for k, (text, colour) in enumerate(legend):        # top-left corner, one line per entry
        axes.text(0.01, 0.99 - 0.06 * k, text, transform=axes.transAxes, color='white',
                  fontsize=9, va='top', bbox=dict(facecolor=colour, alpha=0.8, pad=2,
                                                  linewidth=0))
    axes.set_xlim(-0.5, w - 0.5)
    axes.set_ylim(h - 0.5, -0.5)
    _save(figure, Canvas, path)


def _polygon(corners, colour):
    from matplotlib.patches import Polygon
    return Polygon(corners[:, ::-1], closed=True, fill=False, edgecolor=colour, linewidth=1.5)


def _box_corners(result, j) -> np.ndarray:
    """The 4 corners (row, col) of box j of a result (rectangle1 or rectangle2)."""
    if 'bbox_row1' in result:
        r1, c1, r2, c2 = (float(result[k][j]) for k in ('bbox_row1', 'bbox_col1', 'bbox_row2',
                                                        'bbox_col2'))
        return np.array([(r1, c1), (r1, c2), (r2, c2), (r2, c1)])
    from .detection import rect2_corners
    box = np.array([[float(result[k][j]) for k in ('bbox_row', 'bbox_col', 'bbox_phi',
                                                   'bbox_length1', 'bbox_length2')]])
    return rect2_corners(box)[0]


def write_segmentation_png(labels, class_ids, path, size=None) -> None:
    """A colour-coded PNG of a class map (Pillow, extra ``images``): class ID k in colour k of
    :func:`class_colours` (as :func:`draw_dl_results` draws it); ``size`` (H, W) resizes it by
    nearest neighbour."""
    from .datasets.folders import _pillow
    Image = _pillow()
    labels = np.asarray(labels)
    colours = class_colours(max(class_ids) + 1)
    rgb = np.zeros(labels.shape + (3,), dtype=np.uint8)
    for cid in class_ids:
        rgb[labels == cid] = colours[cid]
    picture = Image.fromarray(rgb, 'RGB')
    if size is not None and tuple(size) != labels.shape:
        picture = picture.resize((int(size[1]), int(size[0])), Image.NEAREST)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise HalconDLError(f"cannot write '{path}': the directory does not exist")
    picture.save(path, format='PNG')
