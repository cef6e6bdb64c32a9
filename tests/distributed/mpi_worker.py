"""One side of the 2-process tests: ``mpiexec -n 2 python mpi_worker.py SCENARIO OUTDIR``.

Every rank trains and writes what it holds (weights, statistics, optimiser state, losses,
errors) to OUTDIR; rank 0 also trains a single-process reference.  The tests in
test_data_parallel.py read these files and make every assertion themselves.
"""
import copy
import json
import os
import signal
import sys
import time

import numpy as np

import halcon_dl as hdl
from halcon_dl import distributed
from halcon_dl.testing.models import NoBatchNormNet, random_samples, snapshot

CASES = [('sgd', 1, 'compact'), ('sgd', 2, 'compact'), ('adam', 1, 'compact'),
         ('adam', 2, 'compact'), ('sgd', 2, 'nobn')]


def make(solver, multiplier, seed=1):
    return hdl.create_dl_model(
        'classification', class_ids=[0, 1, 2], image_width=6, image_height=5, image_num_channels=3,
        batch_size=2, batch_size_multiplier=multiplier, solver_type=solver, learning_rate=0.05,
        momentum=0.9, weight_prior=0.01, batchnorm_momentum=0.25, seed=seed)


def save(out, name, model, losses=None, error=None, **extra):
    arrays = {k: v for k, v in snapshot(model).items() if isinstance(v, np.ndarray)}
    arrays['adam_t'] = np.array(getattr(model.solver, 't', -1))
    np.savez(os.path.join(out, name + '.npz'), **arrays)
    with open(os.path.join(out, name + '.json'), 'w') as f:
        json.dump({'losses': losses, 'error': error, **extra}, f)


def step_samples(model, step, count):
    return random_samples(model, count, seed=1000 + step)


def without_batchnorm(model, seed=5):
    model.network = NoBatchNormNet(3, 3, np.random.default_rng(seed), dtype=np.float32)
    return model


def equivalence(out, rank, procs):
    """Per case: 5 steps on every rank; rank 0 also the P·M reference."""
    for solver, m, net in CASES:
        case = f'{solver}_m{m}_{net}'
        model = make(solver, m, seed=1 + rank)           # rank 1 starts from other weights
        ref = make(solver, procs * m) if rank == 0 else None
        if net == 'compact':
            model.buffers()['backbone.stages.0.bn.running_mean'][...] += rank
        else:
            model = without_batchnorm(model, 5 + rank)
            ref = without_batchnorm(ref) if ref is not None else None
        distributed.data_parallel(model, timeout=120)
        for step in range(5):
            samples = step_samples(model, step, procs * 2 * m)
            losses = hdl.train_dl_model_batch(model, distributed.shard(samples, model))
            save(out, f'{case}_rank{rank}_step{step}', model, losses,
                 exchange=model.replicas.last_exchange)
            if ref is not None:
                save(out, f'{case}_ref_step{step}', ref, hdl.train_dl_model_batch(ref, samples))


def faults(out, rank, procs):
    """Steps 1-3 fail on one rank (bad sample, non-finite loss, other parameters); 0 and 4 work;
    in step 5 rank 0's code raises a RuntimeError."""
    model = make('sgd', 1)
    ref = make('sgd', procs) if rank == 0 else None
    distributed.data_parallel(model, timeout=120)
    for step in range(5):
        samples = step_samples(model, step, procs * 2)
        local = distributed.shard(samples, model)
        if step == 1 and rank == 1:
            local[1] = dict(local[1], image_label_id=7)              # not a class ID
        if step == 2 and rank == 0:
            local[0] = dict(local[0], image=np.full_like(local[0]['image'], np.finfo(np.float32).max))
        if step == 3 and rank == 1:
            hdl.set_dl_model_param(model, 'learning_rate', 0.5)
        save(out, f'faults_rank{rank}_before{step}', model)
        losses, error = None, None
        try:
            losses = hdl.train_dl_model_batch(model, local)
        except hdl.HalconDLError as exc:
            error = str(exc)
        save(out, f'faults_rank{rank}_step{step}', model, losses, error)
        if step == 3 and rank == 1:
            hdl.set_dl_model_param(model, 'learning_rate', 0.05)
        if ref is not None and step in (0, 4):
            save(out, f'faults_ref_step{step}', ref, hdl.train_dl_model_batch(ref, samples))
    if rank == 0:                                   # step 5: a fault of rank 0's own code
        def broken(*args):
            raise RuntimeError('a bug in a task')
        type(model.task).losses = broken
    samples = distributed.shard(step_samples(model, 5, procs * 2), model)
    save(out, f'faults_rank{rank}_before5', model)
    try:
        hdl.train_dl_model_batch(model, samples)
    except Exception as exc:
        save(out, f'faults_rank{rank}_step5', model, error=f'{type(exc).__name__}: {exc}')
    helpers = {'rank': distributed.rank(model), 'size': distributed.size(model),
               'is_root': distributed.is_root(model),
               'allgather': distributed.allgather({'r': rank, 'x': 0.1 * (rank + 1)}, model),
               'mean': distributed.mean_over_ranks({'a': rank + 0.5}, model, weight=rank + 1)}
    with open(os.path.join(out, f'helpers_rank{rank}.json'), 'w') as f:
        json.dump(helpers, f)


def dead(out, rank, procs, how, timeout):
    """Step 0 works; in step 1 rank 1 exits, hangs or is killed inside its training call."""
    model = make('sgd', 1)
    distributed.data_parallel(model, timeout=120)
    hdl.train_dl_model_batch(model, distributed.shard(step_samples(model, 0, procs * 2), model))
    model.replicas.timeout = timeout
    if rank == 1:
        original = type(model.task).losses

        def die(task, *args):
            if how == 'exit':
                sys.exit(0)
            if how == 'kill':
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(600)
            return original(task, *args)
        type(model.task).losses = die
    save(out, f'dead_rank{rank}_before', model)
    t0 = time.monotonic()
    try:
        hdl.train_dl_model_batch(model, distributed.shard(step_samples(model, 1, procs * 2), model))
        error = None
    except hdl.HalconDLError as exc:
        error = str(exc)
    save(out, f'dead_rank{rank}_after', model, error=error, seconds=time.monotonic() - t0)


def procedure(out, rank, procs):
    """train_dl_model on every rank (same data, same seed), and rank 0's P·M reference."""
    samples = random_samples(make('adam', 1), 14, seed=7)        # 14: 2 left over per epoch
    kwargs = dict(epochs=2, seed=3, progress=False, change=[
        {'model_param': 'learning_rate', 'epochs': [1], 'values': [0.01]}])
    model = distributed.data_parallel(make('adam', 1, seed=1 + rank), timeout=120)
    history = hdl.train_dl_model(model, samples, samples[:4], checkpoint=os.path.join(
        out, f'checkpoint_rank{rank}.npz'), **kwargs)
    save(out, f'procedure_rank{rank}', model, history=history)
    if rank == 0:
        reference = make('adam', procs)
        save(out, 'procedure_reference', reference,
             history=hdl.train_dl_model(reference, samples, samples[:4], **kwargs))


def main():
    scenario, out = sys.argv[1], sys.argv[2]
    from mpi4py import MPI
    rank, procs = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    if scenario == 'equivalence':
        equivalence(out, rank, procs)
    elif scenario == 'faults':
        faults(out, rank, procs)
    elif scenario == 'procedure':
        procedure(out, rank, procs)
    else:
        dead(out, rank, procs, sys.argv[3], float(sys.argv[4]))


if __name__ == '__main__':
    main()
