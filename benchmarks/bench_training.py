"""What the training procedure adds to the training steps it runs.

    python benchmarks/bench_training.py [--epochs 3] [--samples 640]

Runs ``train_dl_model`` on the CLS workload ('compact', 64x64x3, 6 classes, batch 32, Adam, a
learning-rate change strategy, the progress display on a log stream, no validation) with every
``train_batch`` call timed; the overhead is (time of the whole procedure − time inside the
steps) / time inside the steps: shuffling, assembling batches, applying the change strategy,
accumulating the losses, the progress display.  Figure: < 2 %.
"""
from __future__ import annotations

import argparse
import io
import time

import halcon_dl as hdl
from halcon_dl.datasets import make_shapes_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--samples', type=int, default=640)
    args = parser.parse_args(argv)
    samples = make_shapes_dataset(args.samples, seed=0)
    model = hdl.create_dl_model('classification', class_ids=list(range(6)), image_width=64,
                                image_height=64, image_num_channels=3, batch_size=32,
                                solver_type='adam', learning_rate=0.003)
    hdl.train_dl_model_batch(model, samples[:32])                  # warm-up
    inside = []
    step = model.train_batch

    def timed_step(batch):
        t0 = time.perf_counter()
        result = step(batch)
        inside.append(time.perf_counter() - t0)
        return result
    model.train_batch = timed_step
    log = io.StringIO()
    t0 = time.perf_counter()
    hdl.train_dl_model(model, samples, epochs=args.epochs, stream=log, change=[
        {'model_param': 'learning_rate', 'epochs': [1.5], 'values': [0.0003]}])
    total = time.perf_counter() - t0
    steps = sum(inside)
    print(f'train_dl_model: {len(inside)} steps, {total:.3f} s in all, {steps:.3f} s inside the '
          f'steps; the procedure adds {total - steps:.4f} s = {(total - steps) / steps:.2%}')


if __name__ == '__main__':
    main()
