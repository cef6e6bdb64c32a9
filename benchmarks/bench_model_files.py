"""write_dl_model / read_dl_model on the 'compact' classification model: time and file size.

    python benchmarks/bench_model_files.py [--runs 15] [--dir DIR]

The model: backbone 'compact', 6 classes, 64x64x3 images, float32; timed without optimiser
state, with SGD's velocities and with Adam's moments (one training step on one image).  Each time
is the median of ``--runs`` calls; writing includes the fsync of the file and the rename, so it
depends on the file system of ``--dir`` (default: a temporary directory).  Reading is split into
the whole call and the part spent building the network anew (``DLModel`` creation, weights drawn
and then replaced).  The size is compared with the raw bytes of the arrays the file holds.
Targets: each call < 50 ms, the file within 10 % of the raw bytes.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import halcon_dl as hdl  # noqa: E402
from halcon_dl.testing.models import random_samples  # noqa: E402


def median_ms(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def model_with(solver):
    kw = dict(class_ids=list(range(6)), image_width=64, image_height=64, image_num_channels=3,
              batch_size=1, solver_type=solver or 'sgd')
    model = hdl.create_dl_model('classification', **kw)
    if solver:
        hdl.train_dl_model_batch(model, random_samples(model, 1))
    return model, kw


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=15)
    parser.add_argument('--dir', default=None, help='directory to write into (default: a temp dir)')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        path = os.path.join(directory, 'compact.npz')
        print(f"'compact', 6 classes, 64x64x3, float32; median of {args.runs} runs; in {directory}")
        print(f'{"optimiser state":<16}{"write ms":>10}{"read ms":>10}{"(rebuild ms)":>14}'
              f'{"file bytes":>12}{"array bytes":>13}{"overhead":>10}')
        for solver in (None, 'sgd', 'adam'):
            model, kw = model_with(solver)
            hdl.write_dl_model(model, path)            # warm up both
            hdl.read_dl_model(path)
            write = median_ms(lambda: hdl.write_dl_model(model, path), args.runs)
            read = median_ms(lambda: hdl.read_dl_model(path), args.runs)
            rebuild = median_ms(lambda: hdl.create_dl_model('classification', **kw), args.runs)
            raw = sum(a.nbytes for group in (model.parameters(), model.buffers(),
                                             model.optimizer_state()) for a in group.values())
            size = os.path.getsize(path)
            print(f'{solver or "none":<16}{write:>10.1f}{read:>10.1f}{rebuild:>14.1f}'
                  f'{size:>12}{raw:>13}{(size - raw) / raw:>10.1%}')


if __name__ == '__main__':
    main()
