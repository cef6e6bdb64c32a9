"""Data parallelism over MPI: P processes make exactly the training step of one process whose
``batch_size_multiplier`` is P·M.

Launch every process with the same script, ``mpiexec -n P python script.py``; each calls
``train_dl_model_batch(model, local_samples)`` with its own ``batch_size × M`` samples::

    model = distributed.data_parallel(hdl.create_dl_model(...))   # weights etc. from rank 0
    local = distributed.shard(step_samples, model)                # rank r's part, in rank order
    losses = hdl.train_dl_model_batch(model, local)               # the same on every rank

**The step.**  HALCON's ``batch_size_multiplier`` defines it: M sub-batches, BatchNorm per
sub-batch, gradients averaged, one update.  Here the P·M sub-batches of all ranks, in rank
order (rank 0's M, then rank 1's, ...), play the part of one process's sub-batches:

- every rank runs its own M sub-batches (forward, backward) and keeps each sub-batch's
  gradient ∇L_{r,k} and loss values;
- the data gradient is (1/(P·M))·(…((∇L_{0,0} + ∇L_{0,1}) + …) + ∇L_{P-1,M-1}): the sum is
  formed in that order, exactly as one process adds its sub-batch gradients, so the result
  is **bit-identical to the single process with multiplier P·M on the samples concatenated
  in rank order**, and therefore identical on every rank; the weight prior α·w is added
  once, then one optimiser update on every rank (identical inputs, identical update);
- each loss value is the mean over the P·M sub-batches (summed in the same order);
- BatchNorm running statistics: a training forward updates a running statistic as
  ``running ← (1 - m)·running + increment`` with an increment that does not depend on
  ``running`` (``ops.normalization.update_running``).  Each rank runs its sub-batches on zeroed
  buffers, which leaves exactly each sub-batch's increment in them; the increments of all
  P·M sub-batches are exchanged and every rank replays them in rank order on the
  statistics it had before the step, as one process would have applied them.

**The exchange** (after the local sub-batches), in four rounds of non-blocking point-to-point
messages, each posted to and from every other rank at once (MPICH moves them on several times
faster than its non-blocking collectives; and a rank that sends nothing can be named).  CuPy
arrays are copied to host memory for it (the MPI is not assumed CUDA-aware) and back:

1. header: the exchange number and the size of this rank's status (16 bytes);
2. status (JSON): its error if validation or compute failed, the loss values of its
   sub-batches, whether its gradients are finite, a digest of its model parameters.  From
   here on every rank holds the same information and reaches the same decision: if any rank
   failed, any loss or gradient is not finite, or the parameters differ, **every** rank raises
   :class:`HalconDLError` naming the rank (and, for a bad sample, the sample) before any rank
   changes its model;
3. reduce-scatter in a fixed order: the N gradient values are cut into P contiguous chunks;
   rank c receives chunk c of every sub-batch gradient of every rank and adds them in rank
   and sub-batch order; the BatchNorm increments go to every rank alongside;
4. all-gather: every rank receives every summed chunk, so all hold the same N sums.

Bytes sent per rank and step: (M + 1)·(P - 1)/P·N·s for the gradients (s bytes per value;
with M = 1 that is the 2(P - 1)/P·N·s of a ring all-reduce), plus (P - 1) times the header,
the status (a few hundred bytes) and the BatchNorm increments (M values per statistic).
``ProcessGroup.last_exchange`` records the bytes sent per kind for the last step, with the
seconds of the local sub-batches (``compute_seconds``), of the status round
(``status_seconds``: it includes waiting for the slowest rank) and of the whole exchange
(``exchange_seconds``).

**Faults.**  Every wait on another process polls non-blocking MPI requests against a deadline
of ``timeout`` seconds (``data_parallel(..., timeout=)``, else the environment variable
``HALCON_DL_MPI_TIMEOUT``, else 300).  A rank that does not answer in time — it exited, hangs,
or called the training operator fewer times — makes the waiting ranks raise
:class:`HalconDLError` naming it; the process group is then unusable (every later call
raises at once) and, when the program ends, the process calls ``MPI_Abort`` so that
``mpiexec`` ends the job instead of waiting for the missing rank at ``MPI_Finalize``.  A rank
killed by a signal is noticed by ``mpiexec`` itself, which ends the job at once.

Requires the ``mpi`` extra (``pip install 'halcon-dl[mpi]'``: mpi4py and MPICH, which brings
``mpiexec``); without it everything else works and :func:`data_parallel` says what to install.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import math
import os
import sys
import time

import numpy as np

from .backend import array_module, to_numpy
from .errors import HalconDLError
from .ops.normalization import update_running

TIMEOUT_VARIABLE = 'HALCON_DL_MPI_TIMEOUT'
DEFAULT_TIMEOUT = 300.0
_TAGS = {'header': 1, 'status': 2, 'gradients': 3, 'statistics': 4, 'sums': 5, 'weights': 6}
_SPIN_SECONDS = 0.01


def _mpi():
    """The mpi4py ``MPI`` module, or :class:`HalconDLError` saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise HalconDLError(
            "data parallelism needs mpi4py and an MPI library: install the 'mpi' extra "
            "(pip install 'halcon-dl[mpi]') and launch with mpiexec -n P python script.py "
            "(or mpiexec -n P python -m halcon_dl train --distributed) "
            f'({type(exc).__name__}: {exc})') from None
    return MPI


def check_timeout(value=None) -> float:
    """The exchange deadline in seconds: ``value``, else ``HALCON_DL_MPI_TIMEOUT``, else 300."""
    source = 'timeout'
    if value is None:
        value, source = os.environ.get(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT), TIMEOUT_VARIABLE
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise HalconDLError(f'{source} must be a positive number of seconds, got {value!r}')
    return seconds


class ProcessGroup:
    """The processes of a data-parallel model: a communicator of its own, the deadline, and the
    exchange of a training step (see the module docstring).  Made by :func:`data_parallel`."""

    def __init__(self, comm, timeout):
        self.comm, self.timeout = comm, timeout
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.exchanges = 0          # exchanges so far; every rank must be at the same count
        self.broken = None          # the error that left the communicator unusable
        self._orphans = []          # requests still pending then (they hold their buffers)
        self.last_exchange = {}     # bytes sent and seconds spent in the last step's exchange

    def __deepcopy__(self, memo):
        return self                 # a copy of a model belongs to the same processes

    # -- waiting with a deadline ------------------------------------------------------------------
    def _fail(self, message, requests=()):
        """Mark the group unusable and raise (see ``_break``)."""
        raise self._break(HalconDLError(f'rank {self.rank} of {self.size}: {message}'), requests)

    def _break(self, error, requests):
        """Mark the group unusable and arrange the job's end at exit; returns ``error``.
        Pending ``requests`` are kept: MPI may still write into their buffers."""
        if self.broken is None:
            self.broken = error
            atexit.register(_abort_job, self)
        self._orphans.append(requests)
        return error

    def _wait(self, requests, what, peers=None):
        """Poll ``requests`` until all are complete; past the deadline fail, naming the ranks in
        ``peers`` ({rank: its receive requests}) that sent nothing.

        MPI moves a non-blocking collective on only while it is polled (an all-to-all of two
        ranks takes ~30 polls), and a process that sleeps or yields may lose its core for a
        time slice on a busy machine: so the first ``_SPIN_SECONDS`` are spent polling without
        pause, then the pauses grow to 1 ms (a slow peer costs no CPU)."""
        MPI = _mpi()
        start = time.monotonic()
        delay = 0.0
        try:
            while not MPI.Request.Testall(requests):
                now = time.monotonic()
                if now > start + self.timeout:
                    silent = [r for r, qs in (peers or {}).items() if not MPI.Request.Testall(qs)]
                    who = (f'rank(s) {silent} did not answer' if silent
                           else 'a rank stopped answering')
                    self._fail(f'{who} within {self.timeout:g} s ({what}): a process exited, '
                               'hangs, or made fewer training calls; the step was abandoned and '
                               'this model is unchanged; the process group is unusable', requests)
                if now > start + _SPIN_SECONDS:
                    time.sleep(delay)
                    delay = min(2 * delay + 1e-5, 1e-3)
        except MPI.Exception as exc:
            self._fail(f'MPI error during {what}: {exc}', requests)
        except HalconDLError:
            raise
        except BaseException as exc:             # e.g. Ctrl-C: the exchange stays incomplete
            raise self._break(exc, requests)

    def _exchange(self, what, *parts):
        """Point-to-point messages, all posted at once: each part is ``(kind, sends, recvs)``
        with {rank: contiguous NumPy array}; ``recvs`` are filled in place.  Waits with the
        deadline; counts the bytes sent per kind in ``last_exchange``."""
        MPI = _mpi()
        if self.broken is not None:
            raise HalconDLError(f'the process group failed earlier: {_describe(self.broken)}')
        incoming, outgoing = {}, []
        try:
            for kind, sends, recvs in parts:
                tag = _TAGS[kind]
                for r, buf in recvs.items():
                    incoming.setdefault(r, []).append(self.comm.Irecv(buf, source=r, tag=tag))
                for r, buf in sends.items():
                    outgoing.append(self.comm.Isend(buf, dest=r, tag=tag))
                key = f'{kind}_bytes'
                self.last_exchange[key] = (self.last_exchange.get(key, 0)
                                           + sum(b.nbytes for b in sends.values()))
        except MPI.Exception as exc:
            self._fail(f'MPI error during {what}: {exc}', list(incoming.values()) + outgoing)
        requests = [q for qs in incoming.values() for q in qs] + outgoing
        self._wait(requests, what, incoming)

    def _others(self):
        return [r for r in range(self.size) if r != self.rank]

    def _header(self, nbytes, what):
        """Exchange (exchange number, payload size) with every rank; returns every rank's
        payload size.  Ranks that are at another exchange are an error."""
        self.exchanges += 1
        got = np.zeros((self.size, 2), dtype=np.int64)
        got[self.rank] = (self.exchanges, nbytes)
        self._exchange(what, ('header', {r: got[self.rank] for r in self._others()},
                              {r: got[r] for r in self._others()}))
        astray = [int(r) for r in np.flatnonzero(got[:, 0] != self.exchanges)]
        if astray:
            self._fail(f'rank(s) {astray} are at exchange {got[astray, 0].tolist()}, this rank at '
                       f'{self.exchanges} ({what}): the ranks made different numbers of training '
                       'or exchange calls')
        return got[:, 1]

    # -- collective operations ----------------------------------------------------------------------
    def allgather(self, value, what='allgather'):
        """Every rank's JSON-serialisable ``value``, as a list in rank order (the same on every
        rank).  Floats survive exactly (JSON writes their shortest round-trip form)."""
        data = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
        sizes = self._header(data.size, what)
        got = {r: np.empty(int(sizes[r]), dtype=np.uint8) for r in self._others()}
        self._exchange(what, ('status', {r: data for r in self._others()}, got))
        got[self.rank] = data
        return [json.loads(got[r].tobytes()) for r in range(self.size)]

    def broadcast(self, flat, what):
        """Overwrite ``flat`` (a NumPy array) with rank 0's, in place."""
        root = self.rank == 0
        self._exchange(what, ('weights', {r: flat for r in self._others()} if root else {},
                              {} if root else {0: flat}))

    def sum_in_rank_order(self, flat, what, rows_to_gather=None):
        """Σ over all ranks r and rows k of ``flat[k]`` (this rank's (M, N) array), added in the
        order (r, k) = (0, 0), (0, 1), …, (P-1, M-1): the same bits on every rank.

        Reduce-scatter: the N columns are cut into P contiguous chunks; rank c receives chunk c
        of every rank's rows and adds them in that order; all-gather: every rank receives every
        summed chunk.  ``rows_to_gather`` (optional, the same shape on every rank) travels with
        the first phase; returns ``(sums, every rank's rows_to_gather stacked in rank order)``.
        """
        p, me, others = self.size, self.rank, self._others()
        m, n = flat.shape
        bounds = [c * n // p for c in range(p + 1)]
        mine = slice(bounds[me], bounds[me + 1])
        received = np.empty((p, m, bounds[me + 1] - bounds[me]), dtype=flat.dtype)
        received[me] = flat[:, mine]
        phases = [('gradients', {c: np.ascontiguousarray(flat[:, bounds[c]:bounds[c + 1]])
                                 for c in others}, {r: received[r] for r in others})]
        gathered = None
        if rows_to_gather is not None:
            gathered = np.empty((p,) + rows_to_gather.shape, dtype=rows_to_gather.dtype)
            gathered[me] = rows_to_gather
            phases.append(('statistics', {r: rows_to_gather for r in others},
                           {r: gathered[r] for r in others}))
        self._exchange(what + ': reduce-scatter', *phases)
        rows = received.reshape(p * m, -1)
        chunk = rows[0].copy()
        for row in rows[1:]:
            chunk += row
        out = np.empty(n, dtype=flat.dtype)
        out[mine] = chunk
        self._exchange(what + ': all-gather', ('sums', {r: chunk for r in others},
                                               {r: out[bounds[r]:bounds[r + 1]] for r in others}))
        return out, gathered

    # -- the training step ----------------------------------------------------------------------------
    def accumulate(self, model, samples, operator):
        """Stands in for ``DLModel._accumulate`` across the processes: returns the loss sums,
        the gradient sums and the sub-batch count P·M over all ranks, and leaves the BatchNorm
        statistics as after all P·M sub-batches in rank order.  Raises on every rank if any
        rank failed."""
        t0 = time.perf_counter()
        net = model.network
        params = net.named_parameters()
        buffers = [b for _, b in net.named_buffers()]
        momenta = [m.momentum for m in _buffer_owners(net)]
        saved = [b.data.copy() for b in buffers]
        terms, grad_rows, increments = [], [], []

        def collect(sub_terms, grads):          # one sub-batch: keep it, zero the statistics
            terms.append(sub_terms)
            grad_rows.append(_flatten([grads[n] for n, _ in params]))
            increments.append(_flatten([b.data for b in buffers]))
            for b in buffers:
                b.data[...] = 0

        error = None
        for b in buffers:
            b.data[...] = 0
        try:
            model._accumulate(samples, operator, each=collect)
        except Exception as exc:                # told to every rank below, raised on every rank
            error = exc
        finally:
            for b, data in zip(buffers, saved):
                b.data[...] = data
        t1 = time.perf_counter()
        self.last_exchange = {}
        status = {'error': None if error is None else _describe(error),
                  'terms': terms, 'finite': [bool(np.isfinite(g).all()) for g in grad_rows],
                  'digest': _digest(model)}
        statuses = self.allgather(status, f'{operator}: status')
        t2 = time.perf_counter()
        self._agree(statuses, error, operator)

        parts = len(terms)
        dtype = model.dtype
        n_grad = sum(int(p.data.size) for _, p in params)
        n_stat = sum(int(b.data.size) for b in buffers)
        rows = np.stack(grad_rows) if grad_rows else np.empty((0, n_grad), dtype)
        totals_flat, all_increments = self.sum_in_rank_order(
            rows, f'{operator}: gradients', np.stack(increments) if n_stat else None)

        xp = array_module(params[0][1].data)
        totals = _unflatten(xp.asarray(totals_flat), params)
        if n_stat:                               # replay in rank order, as one process would
            incs = xp.asarray(all_increments.reshape(-1, n_stat))
            for row in incs:
                offset = 0
                for b, m in zip(buffers, momenta):
                    size = b.data.size
                    update_running(b.data, row[offset:offset + size].reshape(b.data.shape), m)
                    offset += size
        sums = {}
        for s in statuses:
            for sub_terms in s['terms']:
                for name, value in sub_terms.items():
                    sums[name] = sums.get(name, 0.0) + value
        self.last_exchange.update(compute_seconds=t1 - t0, status_seconds=t2 - t1,
                                  exchange_seconds=time.perf_counter() - t1)
        return sums, totals, self.size * parts

    def _agree(self, statuses, error, operator):
        """The decision every rank takes alike from the same statuses: raise if any rank failed,
        has other model parameters than rank 0, or produced non-finite values."""
        failed = [(r, s['error']) for r, s in enumerate(statuses) if s['error'] is not None]
        if failed:
            told = '; '.join(f'rank {r}: {e}' for r, e in failed)
            message = (f'{operator} failed on {len(failed)} of {self.size} ranks ({told}); no rank '
                       'changed its model')
            if error is not None and not isinstance(error, HalconDLError):
                raise error                       # a fault of this process: keep its traceback
            raise HalconDLError(message) from error
        differ = [r for r, s in enumerate(statuses) if s['digest'] != statuses[0]['digest']]
        if differ:
            raise HalconDLError(f"the model parameters of rank(s) {differ} differ from rank 0's "
                                '(set every parameter on every rank); no rank changed its model')
        bad = []
        for r, s in enumerate(statuses):
            for k, sub_terms in enumerate(s['terms']):
                names = [n for n, v in sub_terms.items() if not math.isfinite(v)]
                if not s['finite'][k]:
                    names.append('gradient')
                if names:
                    bad.append(f'rank {r} sub-batch {k}: {names}')
        if bad:
            raise HalconDLError(f'training step produced non-finite values ({"; ".join(bad)}); '
                                'weights, optimiser state and BatchNorm statistics are unchanged '
                                'on every rank')


def _abort_job(group):
    """At exit after a failed exchange: end the MPI job (MPI_Finalize would wait for the rank
    that did not answer)."""
    sys.stderr.write(f'halcon_dl.distributed: ending the MPI job after: {_describe(group.broken)}\n')
    sys.stderr.flush()
    _mpi().COMM_WORLD.Abort(1)


def _describe(error) -> str:
    return str(error) if isinstance(error, HalconDLError) else f'{type(error).__name__}: {error}'


def _digest(model) -> str:
    """A digest of the model's parameter table and optimiser step count (equal on every rank
    while they train in step)."""
    state = [model.params, model.solver.name, getattr(model.solver, 't', None)]
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def _flatten(arrays):
    """One host (NumPy) vector of all the arrays (CuPy arrays are copied to the host)."""
    if not arrays:
        return np.empty(0)
    xp = array_module(*arrays)
    return to_numpy(xp.concatenate([a.ravel() for a in arrays]))


def _unflatten(flat, params):
    out, offset = {}, 0
    for name, p in params:
        size = p.data.size
        out[name] = flat[offset:offset + size].reshape(p.data.shape)
        offset += size
    return out


def _buffer_owners(net) -> list:
    """The module owning each buffer, in ``named_buffers`` order; each must be a running average
    (a module with ``momentum``) for the rank-order replay."""
    owner = {}
    for prefix, module in [('', net), *net.named_modules()]:
        for name, _ in module.named_buffers():
            if '.' not in name:
                owner[f'{prefix}.{name}' if prefix else name] = module
    owners = []
    for name, _ in net.named_buffers():
        module = owner[name]
        if not hasattr(module, 'momentum'):
            raise HalconDLError(f'buffer {name!r} of {type(module).__name__} is not a running '
                                "average (its module has no 'momentum'): data parallelism "
                                'cannot replay its updates across processes')
        owners.append(module)
    return owners


def _live_state(model):
    """(name, live array) of every parameter, buffer and optimiser state array, in a fixed order."""
    arrays = [(f'param.{k}', v) for k, v in model.parameters().items()]
    arrays += [(f'buffer.{k}', v) for k, v in model.buffers().items()]
    arrays += [(f'optimizer.{k}', v) for k, v in sorted(model.optimizer_state().items())]
    return arrays


def data_parallel(model, comm=None, timeout=None):
    """Set ``model`` up for data-parallel training over ``comm`` (default: all processes,
    ``MPI.COMM_WORLD``); collective: every rank calls it with its model.  Returns the model.

    Every rank must have made its model the same way (type, parameters, layer shapes,
    optimiser state keys; checked, with an error naming the rank that differs); the weights,
    BatchNorm statistics and optimiser state are then copied from rank 0 to all ranks.  From
    then on ``train_dl_model_batch`` on this model is a step over all ranks (module docstring).
    ``timeout``: seconds any exchange may wait for another rank (default
    ``HALCON_DL_MPI_TIMEOUT``, else 300).
    """
    from .model import DLModel
    if not isinstance(model, DLModel):
        raise HalconDLError(f'data_parallel: expected a model made by create_dl_model, got '
                            f'{type(model).__name__}')
    seconds = check_timeout(timeout)
    _buffer_owners(model.network)
    MPI = _mpi()
    base = MPI.COMM_WORLD if comm is None else comm
    group = ProcessGroup(base, seconds)
    own, request = base.Idup()                   # messages of its own, apart from the caller's
    group._wait([request], 'data_parallel: duplicating the communicator')
    group.comm = own
    arrays = _live_state(model)
    layout = {'params': json.loads(json.dumps(model.params, default=str)),
              'arrays': [[k, list(v.shape), str(v.dtype)] for k, v in arrays],
              'solver': [model.solver.name, getattr(model.solver, 't', None)]}
    layouts = group.allgather(layout, 'data_parallel: model layout')
    for r, other in enumerate(layouts):
        for key in layout:
            if other[key] != layouts[0][key]:
                raise HalconDLError(
                    f"data_parallel: rank {r}'s model differs from rank 0's in its {key} "
                    f'({_first_difference(layouts[0][key], other[key])}); make the model the '
                    'same way on every rank')
    if arrays:
        flat = _flatten([v for _, v in arrays]).astype(model.dtype, copy=False)
        group.broadcast(flat, "data_parallel: rank 0's weights")
        offset = 0
        for _, v in arrays:
            v[...] = array_module(v).asarray(flat[offset:offset + v.size].reshape(v.shape))
            offset += v.size
    model.replicas = group
    return model


def _first_difference(a, b) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return f'{k}: {a.get(k)!r} on rank 0, {b.get(k)!r} there'
    if isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b):
            if x != y:
                return f'{x!r} on rank 0, {y!r} there'
        return f'{len(a)} entries on rank 0, {len(b)} there'
    return f'{a!r} on rank 0, {b!r} there'


# -- for the command line and training procedures ----------------------------------------------------
def rank(model) -> int:
    """This process's rank in ``model``'s process group (0 for a model that is not distributed)."""
    return model.replicas.rank if model.replicas is not None else 0


def size(model) -> int:
    """The number of processes that train ``model`` together (1 if it is not distributed)."""
    return model.replicas.size if model.replicas is not None else 1


def is_root(model) -> bool:
    """True on rank 0: the process that writes files and prints progress."""
    return rank(model) == 0


def shard(items, model) -> list:
    """This rank's contiguous part of ``items``: ranks in order, sizes differing by at most one
    (rank r gets ``items[r·n//P : (r+1)·n//P]``).  A step's ``P × batch_size × M`` samples so
    give each rank its ``batch_size × M``, and the concatenation in rank order is ``items``."""
    items = list(items)
    r, p = rank(model), size(model)
    return items[r * len(items) // p:(r + 1) * len(items) // p]


def allgather(value, model) -> list:
    """Every rank's JSON-serialisable ``value`` (numbers, strings, lists, dicts), as a list in
    rank order, the same on every rank; ``[value]`` for a model that is not distributed."""
    if model.replicas is None:
        return [json.loads(json.dumps(value))]
    return model.replicas.allgather(value, 'allgather')


def mean_over_ranks(values, model, weight=1.0):
    """Σ_r w_r·v_r / Σ_r w_r over the ranks, summed in rank order (the same on every rank):
    ``values`` is a float or a dict of floats (e.g. measures), ``weight`` this rank's weight
    (e.g. its sample count, so that per-rank means combine into the mean over all samples)."""
    gathered = allgather([values, float(weight)], model)
    total = sum(w for _, w in gathered)
    if not total > 0:
        raise HalconDLError(f'mean_over_ranks: the weights must sum to a positive number, got {total}')
    if isinstance(values, dict):
        return {k: sum(w * v[k] for v, w in gathered) / total for k in values}
    return sum(w * v for v, w in gathered) / total


__all__ = ['data_parallel', 'ProcessGroup', 'rank', 'size', 'is_root', 'shard', 'allgather',
           'mean_over_ranks', 'check_timeout', 'TIMEOUT_VARIABLE', 'DEFAULT_TIMEOUT']
