"""Data-parallel training over MPI: samples/s of 1 and 2 processes, bytes per step, cost model.

    python benchmarks/bench_distributed.py [--steps 20] [--rounds 2] [--bandwidth-gbit 10]

CLS workload: backbone 'compact', 6 classes, 64x64x3 images, batch 32 per process, SGD with
momentum.  Every process runs one thread (HALCON_DL_NUM_THREADS=1).  One process trains alone
(no MPI); two processes run under ``mpiexec -n 2`` with ``distributed.data_parallel``, each
with its own 32 samples per step.  As a control, two independent processes run side by side
without MPI: the most two processes get from this machine at the time.  The runs alternate
(1, 2, control, 1, 2, control, ...) so that drift on a shared machine hits all; medians.

The cost model for P processes on a network of B bit/s: step(P) = compute + S·2(P-1)/P / B,
S = the gradient's bytes (a ring all-reduce; halcon_dl's fixed-order reduce-scatter plus
all-gather sends the same with batch_size_multiplier 1), compute = the measured 1-process step.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

CLASSES, SIZE, BATCH = 6, 64, 32


def worker(args):
    import halcon_dl as hdl
    from halcon_dl import distributed
    model = hdl.create_dl_model('classification', backbone='compact', class_ids=list(range(CLASSES)),
                                image_width=SIZE, image_height=SIZE, image_num_channels=3,
                                batch_size=BATCH, solver_type='sgd', learning_rate=0.01)
    if args.distributed:
        distributed.data_parallel(model)
    rank = distributed.rank(model)
    rng = np.random.default_rng(rank)
    batches = [[{'image': rng.uniform(-127, 128, (SIZE, SIZE, 3)).astype(np.float32),
                 'image_label_id': int(rng.integers(CLASSES))} for _ in range(BATCH)]
               for _ in range(4)]
    for b in batches[:3]:                                       # warm-up
        hdl.train_dl_model_batch(model, b)
    times, compute, status, exchange = [], [], [], []
    for i in range(args.steps):
        t0 = time.perf_counter()
        hdl.train_dl_model_batch(model, batches[i % len(batches)])
        times.append(time.perf_counter() - t0)
        if model.replicas is not None:
            compute.append(model.replicas.last_exchange['compute_seconds'])
            status.append(model.replicas.last_exchange['status_seconds'])
            exchange.append(model.replicas.last_exchange['exchange_seconds'])
    if distributed.is_root(model):
        record = {'procs': distributed.size(model), 'step': float(np.median(times)),
                  'gradient_values': int(sum(w.size for w in model.parameters().values()))}
        if model.replicas is not None:
            record.update(compute=float(np.median(compute)), status=float(np.median(status)),
                          exchange=float(np.median(exchange)),
                          bytes=model.replicas.last_exchange)
        print(json.dumps(record), flush=True)


def run(procs, steps, independent=False):
    """One run: 1 process, ``procs`` processes under mpiexec, or ``procs`` independent
    processes side by side (no communication: what the machine allows at best)."""
    env = dict(os.environ, HALCON_DL_NUM_THREADS='1')
    me = [sys.executable, os.path.abspath(__file__), '--worker', '--steps', str(steps)]
    if procs > 1 and not independent:
        local = os.path.join(os.path.dirname(sys.executable), 'mpiexec')
        launcher = local if os.path.exists(local) else shutil.which('mpiexec')
        if launcher is None:
            sys.exit("mpiexec not found: pip install '.[mpi]'")
        me = [launcher, '-n', str(procs), *me, '--distributed']
    running = [subprocess.Popen(me, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for _ in range(procs if independent else 1)]
    records = []
    for proc in running:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            sys.exit(out + err)
        records.append(json.loads(out.strip().splitlines()[-1]))
    if independent:
        return {'procs': procs, 'step': float(np.mean([r['step'] for r in records]))}
    return records[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--bandwidth-gbit', type=float, default=10.0)
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--distributed', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    with open('/proc/loadavg') as f:
        load_before = f.read().split()[:3]
    runs = {1: [], 2: [], 'side by side': []}
    for _ in range(args.rounds):
        runs[1].append(run(1, args.steps))
        runs[2].append(run(2, args.steps))
        runs['side by side'].append(run(2, args.steps, independent=True))
    with open('/proc/loadavg') as f:
        load_after = f.read().split()[:3]
    one = float(np.median([r['step'] for r in runs[1]]))
    two = float(np.median([r['step'] for r in runs[2]]))
    last = runs[2][-1]
    print(f'CLS (compact, {CLASSES} classes, {SIZE}x{SIZE}x3, batch {BATCH} per process, SGD), '
          f'1 thread per process, {args.steps} steps x {args.rounds} rounds; load average '
          f'{" ".join(load_before)} before, {" ".join(load_after)} after')
    print(f'1 process : {one * 1e3:7.1f} ms/step  {BATCH / one:6.1f} samples/s')
    print(f'2 processes: {two * 1e3:7.1f} ms/step  {2 * BATCH / two:6.1f} samples/s  '
          f'({2 * BATCH / two / (BATCH / one):.2f}x; per step: local sub-batches '
          f'{np.median([r["compute"] for r in runs[2]]) * 1e3:.1f} ms, exchange '
          f'{np.median([r["exchange"] for r in runs[2]]) * 1e3:.1f} ms of which '
          f'{np.median([r["status"] for r in runs[2]]) * 1e3:.1f} ms waiting for the other rank '
          'in the status round)')
    alone = float(np.median([r['step'] for r in runs['side by side']]))
    print(f'control, 2 independent processes side by side (no MPI): {alone * 1e3:.1f} ms/step, '
          f'{2 * BATCH / alone:.1f} samples/s ({2 * BATCH / alone / (BATCH / one):.2f}x): the '
          'most this machine allows now')
    b = last['bytes']
    print(f'bytes sent per process and step (P = 2): gradients {b["gradients_bytes"]} + summed '
          f'chunk {b["sums_bytes"]}, BatchNorm increments {b["statistics_bytes"]}, header and '
          f'status {b["header_bytes"] + b["status_bytes"]}')
    grad_bytes = 4 * last['gradient_values']
    rate = args.bandwidth_gbit * 1e9 / 8
    print(f'\ncost model: step = {one * 1e3:.1f} ms + {grad_bytes} B x 2(P-1)/P / '
          f'{args.bandwidth_gbit:g} Gbit/s')
    print('    P   step ms   samples/s   efficiency')
    for p in (1, 2, 4, 8, 16, 32, 64):
        step = one + grad_bytes * 2 * (p - 1) / p / rate
        print(f'{p:5d} {step * 1e3:9.2f} {p * BATCH / step:11.0f} {one / step:12.1%}')


if __name__ == '__main__':
    main()
