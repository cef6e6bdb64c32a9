"""Command line: ``python -m halcon_dl train | evaluate | predict``.

``train`` runs the library's training procedure (``train_dl_model``) on the embedded data set of
the model type (or, for classification, on a folder of images with ``--data``), with a progress
display and the validation measure of the type after every epoch; ``--save PATH`` writes the
best model (by that measure) while training.  ``evaluate MODEL`` prints the measures of a saved
model as a table; ``predict MODEL IMAGE...`` prints the top classes (classification), writes a
colour-coded PNG per image (segmentation) or prints the boxes (detection).

Exit codes: 0 done, 2 bad options or values (argparse's code; also every HalconDLError, with a
one-line message), 130 interrupted (Ctrl-C, as a shell reports SIGINT), with a one-line message.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from . import __version__

# The recipes of the training command per model type: defaults of the options [C], each tuned on
# the embedded data set (see the README for what they reach).  learning-rate drops are /10 at the
# start of the listed epochs.
RECIPES = {
    'classification': dict(backbone='compact', epochs=15, batch_size=32, solver='adam',
                           learning_rate=0.003, lr_drop_epochs=[11, 14], weight_prior=1e-4,
                           momentum=0.9),
    'segmentation': dict(backbone='resnet18', epochs=8, batch_size=8, solver='adam',
                         learning_rate=0.003, lr_drop_epochs=[8], weight_prior=1e-4,
                         momentum=0.9),
    'detection': dict(backbone='compact', epochs=5, batch_size=8, solver='adam',
                      learning_rate=0.001, lr_drop_epochs=[5], weight_prior=1e-4, momentum=0.9),
}
# What the command prints per epoch: (measure, label, format) per model type.
EPOCH_MEASURES = {
    'classification': [('top1_error', 'validation accuracy', lambda e: f'{1 - e:.2%}')],
    'segmentation': [('mean_iou', 'validation mean IoU', '{:.4f}'.format),
                     ('pixel_accuracy', 'pixel accuracy', lambda a: f'{a:.2%}')],
    'detection': [('ap_iou_050', 'validation AP@0.5', '{:.4f}'.format),
                  ('mean_ap', 'mean AP', '{:.4f}'.format)],
}


def integer_from(low: int, why: str = ''):
    """argparse type: an integer >= ``low`` (``why`` explains the bound in the error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected an integer >= {low}, got {text!r}') from None
        if value < low:
            raise argparse.ArgumentTypeError(f'must be >= {low}{why}, got {value}')
        return value
    return parse


at_least_one = integer_from(1)
# a drop at the start of epoch 1 would be the initial rate
at_least_two = integer_from(2, ' (for a lower rate from epoch 1 on, give --learning-rate)')


# -- data -------------------------------------------------------------------------------------------

def embedded_data(model_type, seed, instance_type='rectangle1'):
    """(train, validation, creation arguments) of the embedded data set of ``model_type``."""
    from . import datasets
    if model_type == 'classification':
        train, val = datasets.default_dataset(seed=seed)
        ids, names = list(range(len(datasets.SHAPE_CLASS_NAMES))), list(datasets.SHAPE_CLASS_NAMES)
        extra = {}
    elif model_type == 'segmentation':
        train, val = datasets.default_segmentation_dataset(seed=seed)
        ids, names = list(datasets.SEGMENTATION_CLASS_IDS), list(datasets.SEGMENTATION_CLASS_NAMES)
        extra = {}
    else:
        train, val = datasets.default_detection_dataset(instance_type, seed=seed)
        ids, names = list(datasets.DETECTION_CLASS_IDS), list(datasets.DETECTION_CLASS_NAMES)
        extra = {'instance_type': instance_type}
    image = train[0]['image']
    channels = 1 if image.ndim == 2 else image.shape[2]
    return train, val, dict(class_ids=ids, class_names=names, image_height=image.shape[0],
                            image_width=image.shape[1], image_num_channels=channels, **extra)


def folder_data(path, seed, image_size, channels):
    """(train, validation, creation arguments) from a folder with one sub-folder per class:
    80/20 split stratified by class, images loaded and preprocessed per sample as needed."""
    from .datasets import DLSampleSequence, read_dl_dataset_classification, split_dl_dataset
    from .preprocess import create_dl_preprocess_param
    dataset = split_dl_dataset(read_dl_dataset_classification(path), 80, 20, seed=seed)
    param = create_dl_preprocess_param('classification', image_size, image_size, channels)
    parts = {split: [i for i, s in enumerate(dataset['samples']) if s['split'] == split]
             for split in ('train', 'validation')}
    train, val = (DLSampleSequence(dataset, parts[k], param) for k in ('train', 'validation'))
    return train, val, dict(class_ids=dataset['class_ids'], class_names=dataset['class_names'],
                            image_width=image_size, image_height=image_size,
                            image_num_channels=channels)


# -- train ----------------------------------------------------------------------------------------

def check_outputs(args):
    """Before any work: the options that only act with --data, the directories of --save and
    --plot, and matplotlib for --plot (so that a long run does not fail at its end)."""
    from .errors import HalconDLError
    if args.data is None and (args.image_size is not None or args.channels is not None):
        raise HalconDLError('--image-size and --channels apply with --data only (the embedded '
                            'data sets have their own size)')
    for option, path in (('--save', args.save), ('--plot', args.plot)):
        if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise HalconDLError(f"{option} {path}: the directory does not exist")
    if args.plot is not None:
        from .plot import _matplotlib
        _matplotlib()


def train(args, out=None, err=None) -> dict:
    """Train as the options say; returns the history.  Per-epoch reports go to ``out`` (default:
    standard output), the progress display to ``err`` (default: standard error)."""
    out, err = out or sys.stdout, err or sys.stderr
    from . import create_dl_model, train_dl_model
    from .errors import HalconDLError
    recipe = RECIPES[args.type]
    for key, value in recipe.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    check_outputs(args)
    if args.data is not None:
        if args.type != 'classification':
            raise HalconDLError('--data reads a folder with one sub-folder per class: '
                                'classification only')
        train_set, val_set, creation = folder_data(args.data, args.seed, args.image_size or 64,
                                                   args.channels or 3)
        source = f'{len(train_set) + len(val_set)} images from {args.data}'
    else:
        train_set, val_set, creation = embedded_data(args.type, args.seed, args.instance_type)
        source = f'the embedded {args.type} data set'
    model = create_dl_model(
        args.type, backbone=args.backbone, seed=args.seed, batch_size=args.batch_size,
        batch_size_multiplier=args.multiplier, solver_type=args.solver,
        learning_rate=args.learning_rate, momentum=args.momentum, weight_prior=args.weight_prior,
        runtime=args.runtime, **creation)
    from . import distributed
    if args.distributed:
        distributed.data_parallel(model)
    root, ranks = distributed.is_root(model), distributed.size(model)
    step = args.batch_size * args.multiplier
    if ranks * step > len(train_set):
        factors = f'{args.batch_size} x {args.multiplier}' + (f' x {ranks}' if ranks > 1 else '')
        raise HalconDLError(
            'a training step takes batch size x multiplier' + (' x processes' if ranks > 1 else '')
            + f' = {factors} = {ranks * step} samples, more than the {len(train_set)} of the '
            'training set: lower --batch-size or --multiplier')
    drops = sorted(set(args.lr_drop_epochs))
    change = ([{'model_param': 'learning_rate', 'epochs': [e - 1 for e in drops],
                'values': [args.learning_rate * 0.1 ** (k + 1) for k in range(len(drops))]}]
              if drops else [])
    size = f"{creation['image_width']}x{creation['image_height']}x{creation['image_num_channels']}"
    if root:
        out.write(f'training a {args.type} model ({args.backbone}) on {source}: '
                  f'{len(train_set)} training images ({size}, {len(creation["class_ids"])} '
                  f'classes), {len(val_set)} for validation; {len(train_set) // (ranks * step)} '
                  f'steps of {ranks * step} per epoch'
                  + (f' over {ranks} processes' if ranks > 1 else '')
                  + f', {args.solver}, lr {args.learning_rate}, runtime {args.runtime}\n')
        out.flush()
    t_start = time.perf_counter()
    shown = EPOCH_MEASURES[args.type]

    def report(record):
        if not root:
            return
        measures = record['validation'] or {}
        parts = [f'{label} {fmt(measures[name])}' for name, label, fmt in shown
                 if measures.get(name) is not None]
        out.write(f"epoch {record['epoch']}: loss {record['losses']['total_loss']:.4f}, "
                  + ', '.join(parts) + f', {time.perf_counter() - t_start:.0f} s elapsed\n')
        out.flush()

    history = train_dl_model(model, train_set, val_set, epochs=args.epochs, change=change,
                             seed=args.seed, on_epoch=report, checkpoint=args.save if root else None,
                             measures=[name for name, _, _ in shown], progress=root, stream=err)
    if root and args.save:
        best = history['best']
        out.write(f"saved the model of epoch {best['epoch']} ({best['measure']} "
                  f"{best['value']:.4f}) to {args.save}\n")
    if root and args.plot:
        from .plot import plot_training_history
        plot_training_history(history, args.plot)
        out.write(f'wrote the training curves to {args.plot}\n')
    return history


# -- evaluate and predict -------------------------------------------------------------------------

def evaluate(args, out=None) -> dict:
    """Print the measures of a saved model on the embedded validation set or a folder."""
    out = out or sys.stdout
    from . import evaluate_dl_model
    from .errors import HalconDLError
    from .io import read_dl_model
    model = read_dl_model(args.model)
    if args.data is not None:
        from .datasets import DLSampleSequence, read_dl_dataset_classification
        from .preprocess import create_dl_preprocess_param_from_model
        if model.type != 'classification':
            raise HalconDLError('--data reads a folder with one sub-folder per class: '
                                'classification only')
        dataset = read_dl_dataset_classification(args.data)
        _check_folder_classes(model, dataset)
        samples = DLSampleSequence(dataset, range(len(dataset['samples'])),
                                   create_dl_preprocess_param_from_model(model))
    else:
        instance = model.get_param('instance_type') if model.type == 'detection' else 'rectangle1'
        _, samples, creation = embedded_data(model.type, args.seed, instance)
        mismatch = [k for k in ('class_ids', 'class_names', 'image_width', 'image_height',
                                'image_num_channels') if model.get_param(k) != creation[k]]
        if mismatch:
            raise HalconDLError(
                f"this model was not made for the embedded {model.type} data set ({', '.join(mismatch)} "
                f"differ: the model has classes {model.get_param('class_names')}); pass --data DIR"
                if model.type == 'classification' else
                f"this model was not made for the embedded {model.type} data set "
                f"({', '.join(mismatch)} differ)")
    measures = evaluate_dl_model(model, samples, args.measures or 'all')
    out.write(format_measures(measures, model.get_param('class_names')))
    return measures


def _check_folder_classes(model, dataset):
    """Give the folder's samples the model's class IDs, matched by class (folder) name."""
    from .errors import HalconDLError
    names, ids = model.get_param('class_names'), model.get_param('class_ids')
    unknown = sorted(set(dataset['class_names']) - set(names))
    if unknown:
        raise HalconDLError(f'the folder has classes the model does not know: {unknown}; the '
                            f'model knows {names}')
    folder_name = dict(zip(dataset['class_ids'], dataset['class_names']))
    for sample in dataset['samples']:
        sample['image_label_id'] = ids[names.index(folder_name[sample['image_label_id']])]


def format_measures(measures, class_names) -> str:
    """A plain-text table: scalar measures first, then per-class lists as columns, then
    matrices."""
    import numpy as np
    scalars, per_class, matrices = [], {}, {}
    for name, value in measures.items():
        array = np.asarray(value, dtype=float) if value is not None else np.asarray(np.nan)
        if array.ndim == 0:
            scalars.append((name, float(array)))
        elif array.ndim == 1 and len(array) == len(class_names):
            per_class[name] = array
        else:
            matrices[name] = array
    width = max([len(n) for n, _ in scalars] + [8])
    lines = [f'{name:<{width}}  {value:.4f}' for name, value in scalars]
    if per_class:
        cw = max([len(n) for n in class_names] + [5])
        header = f'\n{"class":<{cw}}' + ''.join(f'  {n:>{max(10, len(n))}}' for n in per_class)
        lines.append(header)
        for i, cname in enumerate(class_names):
            lines.append(f'{cname:<{cw}}' + ''.join(
                f'  {v[i]:>{max(10, len(n))}.4f}' for n, v in per_class.items()))
    for name, matrix in matrices.items():
        matrix = np.atleast_2d(matrix)
        integral = bool(np.all(matrix == np.round(matrix)))
        cells = [[f'{v:.0f}' if integral else f'{v:.4f}' for v in row] for row in matrix]
        labels = class_names if len(class_names) == len(matrix) else [str(i) for i in range(len(matrix))]
        cw = max([len(c) for row in cells for c in row] + [len(n) for n in labels] + [4])
        lw = max(len(n) for n in labels)
        lines.append(f'\n{name} (rows: predicted class, columns: ground truth):')
        lines.append(' ' * lw + ''.join(f'  {n:>{cw}}' for n in labels))
        lines.extend(f'{label:<{lw}}' + ''.join(f'  {c:>{cw}}' for c in row)
                     for label, row in zip(labels, cells))
    return '\n'.join(lines) + '\n'


def predict(args, out=None) -> list:
    """Apply a saved model to image files and report per image."""
    out = out or sys.stdout
    from . import apply_dl_model
    from .datasets import read_image_file
    from .io import read_dl_model
    from .preprocess import create_dl_preprocess_param_from_model, preprocess_dl_samples
    model = read_dl_model(args.model)
    param = create_dl_preprocess_param_from_model(model)
    reports = []
    for path in args.images:
        raw = read_image_file(path)
        sample = preprocess_dl_samples([{'image': raw, 'image_id': 0}], param)[0]
        result = apply_dl_model(model, [sample])[0]
        if model.type == 'classification':
            top = list(zip(result['classification_class_names'],
                           result['classification_confidences']))[:args.top]
            out.write(f'{path}: ' + ', '.join(f'{n} {c:.4f}' for n, c in top) + '\n')
        elif model.type == 'segmentation':
            from .plot import write_segmentation_png
            target = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0]
                                  + '_segmentation.png')
            write_segmentation_png(result['segmentation_image'], model.get_param('class_ids'),
                                   target, size=raw.shape[:2])
            out.write(f'{path}: wrote {target}\n')
        else:
            boxes = boxes_in_original_image(model, result, raw.shape[:2])
            out.write(f'{path}: {len(boxes)} detections\n')
            if 'bbox_phi' in result and boxes and not same_factors(model, raw.shape[:2]):
                out.write(f"  (the image's aspect ratio differs from the model's "
                          f"{model.get_param('image_width')}x{model.get_param('image_height')}: "
                          'boxes in model coordinates)\n')
            for box in boxes:
                out.write('  ' + ' '.join(f'{k} {v:.2f}' if isinstance(v, float) else f'{k} {v}'
                                          for k, v in box.items()) + '\n')
        reports.append(result)
    return reports


def same_factors(model, original_size) -> bool:
    """True when preprocessing scales both axes of an image of ``original_size`` alike."""
    h, w = original_size
    return model.get_param('image_height') * w == model.get_param('image_width') * h


def boxes_in_original_image(model, result, original_size) -> list:
    """The result's boxes mapped back from the model's image size to the file's: rectangle1
    ``x = (x' + 0.5)/f − 0.5`` per axis (the inverse of preprocessing's ``(x + 0.5)·f − 0.5``);
    rectangle2 the same for the centre and lengths divided by f when both axes have the same
    factor f; with different factors rectangle2 boxes stay in model coordinates (a rotated box
    does not stay a rectangle under unequal scaling)."""
    h, w = original_size
    fr, fc = model.get_param('image_height') / h, model.get_param('image_width') / w
    if 'bbox_phi' in result and not same_factors(model, original_size):
        fr = fc = 1.0
    keys = ([k for k in ('bbox_row1', 'bbox_col1', 'bbox_row2', 'bbox_col2') if k in result]
            or ['bbox_row', 'bbox_col', 'bbox_phi', 'bbox_length1', 'bbox_length2'])
    boxes = []
    for j in range(len(result['bbox_class_id'])):
        box = {'class': result['bbox_class_name'][j], 'confidence': float(result['bbox_confidence'][j])}
        for key in keys:
            value = float(result[key][j])
            if key in ('bbox_row1', 'bbox_row2', 'bbox_row'):
                value = (value + 0.5) / fr - 0.5
            elif key in ('bbox_col1', 'bbox_col2', 'bbox_col'):
                value = (value + 0.5) / fc - 0.5
            elif key in ('bbox_length1', 'bbox_length2'):
                value = value / fr
            box[key[5:]] = value
        boxes.append(box)
    return boxes


# -- main -----------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='python -m halcon_dl', description='halcon_dl command line')
    p.add_argument('--version', action='version', version=f'halcon_dl {__version__}')
    commands = p.add_subparsers(dest='command', required=True)
    t = commands.add_parser('train', help='train a model on the embedded data set of its type '
                            '(or a folder of images) and report the validation measure per epoch')
    t.add_argument('--type', choices=list(RECIPES), default='classification')
    t.add_argument('--instance-type', choices=['rectangle1', 'rectangle2'], default='rectangle1',
                   help='detection: axis-aligned or oriented boxes')
    t.add_argument('--data', metavar='DIR', help='classification: a folder with one sub-folder '
                   'of images per class (80/20 split) instead of the embedded data set')
    t.add_argument('--image-size', type=at_least_one,
                   help='with --data: images are resized to this square size (default 64)')
    t.add_argument('--channels', type=int, choices=[1, 3],
                   help='with --data: grey (1) or colour (3) model input (default 3)')
    t.add_argument('--backbone', choices=['compact', 'resnet18'],
                   help='default: per type (resnet18 for segmentation, else compact)')
    t.add_argument('--epochs', type=at_least_one, help='default: per type (see README)')
    t.add_argument('--batch-size', type=at_least_one)
    t.add_argument('--multiplier', type=at_least_one, default=1, help='batch_size_multiplier')
    t.add_argument('--solver', choices=['sgd', 'adam'])
    t.add_argument('--learning-rate', type=float)
    t.add_argument('--momentum', type=float)
    t.add_argument('--weight-prior', type=float)
    t.add_argument('--lr-drop-epochs', type=at_least_two, nargs='*',
                   help='epochs at whose start the learning rate is divided by 10')
    t.add_argument('--seed', type=int, default=0)
    t.add_argument('--runtime', choices=['cpu', 'gpu'], default='cpu')
    t.add_argument('--save', metavar='PATH', help='write the best model (by the validation '
                   'measure) to PATH while training')
    t.add_argument('--plot', metavar='PATH', help='write the training curves as a PNG (extra plot)')
    t.add_argument('--distributed', action='store_true',
                   help='data-parallel over MPI: run as mpiexec -n P python -m halcon_dl train '
                   '--distributed (extra mpi)')
    e = commands.add_parser('evaluate', help='print the evaluation measures of a saved model')
    e.add_argument('model', metavar='MODEL')
    e.add_argument('--data', metavar='DIR', help='classification: a folder with one sub-folder '
                   'per class (default: the embedded validation set of the model type)')
    e.add_argument('--measures', nargs='*', help="measure names (default: 'all')")
    e.add_argument('--seed', type=int, default=0, help='seed of the embedded data set')
    r = commands.add_parser('predict', help='apply a saved model to image files')
    r.add_argument('model', metavar='MODEL')
    r.add_argument('images', metavar='IMAGE', nargs='+')
    r.add_argument('--top', type=at_least_one, default=3, help='classification: classes shown')
    r.add_argument('--out', metavar='DIR', default='.', help='segmentation: where PNGs go')
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from .errors import HalconDLError
    command = {'train': train, 'evaluate': evaluate, 'predict': predict}[args.command]
    try:
        command(args)
    except HalconDLError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        notes = getattr(exc, '__notes__', None)
        what = {'train': 'training', 'evaluate': 'evaluation', 'predict': 'prediction'}
        print(notes[-1] if notes else f'interrupted before {what[args.command]} started',
              file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
