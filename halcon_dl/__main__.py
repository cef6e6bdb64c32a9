"""Command line: ``python -m halcon_dl train`` trains a classification model on the embedded
shapes data set, with a progress bar (loss, samples/s) and the validation accuracy per epoch.

Exit codes: 0 done, 2 bad options or values (argparse's code, also for a batch larger than the
training set), 130 interrupted (Ctrl-C, as a shell reports SIGINT), with a one-line message.
"""
from __future__ import annotations

import argparse
import sys
import time

from . import __version__
from .progress import Progress


class Interrupted(Exception):
    """Training was stopped by Ctrl-C; the message says where."""


def at_least_one(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def accuracy(model, samples) -> float:
    """Fraction of samples whose top class is their label."""
    from . import apply_dl_model
    results = apply_dl_model(model, samples)
    hits = sum(r['classification_class_ids'][0] == s['image_label_id'] for r, s in zip(results, samples))
    return hits / len(samples)


def train(args, out=None, err=None) -> float:
    """Train as the options say; returns the last validation accuracy.  Reports go to ``out``
    (default: standard output), the progress to ``err`` (default: standard error; redrawn in
    place on a terminal, one line per epoch elsewhere).  Ctrl-C raises :class:`Interrupted`."""
    out, err = out or sys.stdout, err or sys.stderr
    from . import create_dl_model, set_dl_model_param, train_dl_model_batch
    from .backend import make_rng
    from .datasets import SHAPE_CLASS_NAMES, default_dataset
    from .errors import HalconDLError

    t_start = time.perf_counter()
    train_set, val_set = default_dataset(seed=args.seed)
    first = train_set[0]['image']
    model = create_dl_model(
        'classification', backbone=args.backbone, class_ids=list(range(len(SHAPE_CLASS_NAMES))),
        class_names=list(SHAPE_CLASS_NAMES), image_height=first.shape[0], image_width=first.shape[1],
        image_num_channels=first.shape[2], seed=args.seed, batch_size=args.batch_size,
        batch_size_multiplier=args.multiplier, solver_type=args.solver,
        learning_rate=args.learning_rate, momentum=args.momentum, weight_prior=args.weight_prior,
        runtime=args.runtime)
    step_size = args.batch_size * args.multiplier
    if step_size > len(train_set):
        raise HalconDLError(
            f'a training step takes batch size x multiplier = {args.batch_size} x '
            f'{args.multiplier} = {step_size} samples, more than the {len(train_set)} of the '
            'training set: lower --batch-size or --multiplier')
    steps = len(train_set) // step_size
    order_rng = make_rng(args.seed + 1)
    out.write(f'training {args.backbone} on {len(train_set)} shapes images ({first.shape[1]}x'
              f'{first.shape[0]}x{first.shape[2]}, {len(SHAPE_CLASS_NAMES)} classes), validating on '
              f'{len(val_set)}; {steps} steps of {step_size} per epoch, {args.solver}, lr '
              f'{args.learning_rate}, runtime {args.runtime}\n')
    out.flush()
    progress, acc, epoch, step = Progress(err), 0.0, 0, 0
    try:
        for epoch in range(1, args.epochs + 1):
            if epoch in args.lr_drop_epochs:
                set_dl_model_param(model, 'learning_rate', model.get_param('learning_rate') * 0.1)
            order = order_rng.permutation(len(train_set))
            t0, running = time.perf_counter(), None
            for step in range(steps):
                batch = [train_set[i] for i in order[step * step_size:(step + 1) * step_size]]
                loss = train_dl_model_batch(model, batch)['total_loss']
                running = loss if running is None else 0.9 * running + 0.1 * loss
                rate = (step + 1) * step_size / (time.perf_counter() - t0)
                progress.update(f'epoch {epoch}/{args.epochs}', step + 1, steps,
                                f'loss {running:.4f} {rate:.0f} samples/s')
            step = steps
            progress.end_line()
            acc = accuracy(model, val_set)
            out.write(f'epoch {epoch}: loss {running:.4f}, validation accuracy {acc:.2%}, '
                      f'{time.perf_counter() - t_start:.0f} s elapsed\n')
            out.flush()
    except KeyboardInterrupt:
        progress.end_line()
        raise Interrupted(f'interrupted in epoch {epoch}/{args.epochs} after step {step}/{steps}') \
            from None
    return acc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m halcon_dl',
                                     description='halcon_dl command line')
    parser.add_argument('--version', action='version', version=f'halcon_dl {__version__}')
    commands = parser.add_subparsers(dest='command', required=True)
    t = commands.add_parser('train', help='train a classification model on the embedded shapes '
                            'data set and report validation accuracy per epoch')
    t.add_argument('--backbone', choices=['compact', 'resnet18'], default='compact')
    t.add_argument('--epochs', type=at_least_one, default=15)
    t.add_argument('--batch-size', type=at_least_one, default=32)
    t.add_argument('--multiplier', type=at_least_one, default=1, help='batch_size_multiplier')
    t.add_argument('--solver', choices=['sgd', 'adam'], default='adam')
    t.add_argument('--learning-rate', type=float, default=0.003)
    t.add_argument('--momentum', type=float, default=0.9)
    t.add_argument('--weight-prior', type=float, default=1e-4)
    t.add_argument('--lr-drop-epochs', type=int, nargs='*', default=[11, 14],
                   help='epochs at whose start the learning rate is divided by 10')
    t.add_argument('--seed', type=int, default=0)
    t.add_argument('--runtime', choices=['cpu', 'gpu'], default='cpu')
    args = parser.parse_args(argv)
    if args.command == 'train':
        from .errors import HalconDLError
        try:
            train(args)
        except HalconDLError as exc:
            print(f'error: {exc}', file=sys.stderr)
            return 2
        except Interrupted as exc:
            print(exc, file=sys.stderr)
            return 130
        except KeyboardInterrupt:
            print('interrupted before training started', file=sys.stderr)
            return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
