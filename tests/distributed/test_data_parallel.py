"""Data parallelism over MPI (halcon_dl.distributed), checked with 2 processes under mpiexec.

Each launch runs mpi_worker.py on both ranks; the workers write what their models hold after
every step, and rank 0 also trains a single-process reference with multiplier P·M on the
samples of both ranks concatenated in rank order.  The assertions are made here: bit-identity
with that reference and across ranks, every rank failing alike without changing its model,
and a bounded failure when a rank dies.  Skipped without the 'mpi' extra (mpi4py, mpiexec).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import types

import numpy as np
import pytest
from hypothesis import given, strategies as st

import halcon_dl as hdl
from halcon_dl import distributed
from halcon_dl.testing.models import random_samples

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mpi_worker.py')
LAUNCH_TIMEOUT = 180          # seconds for one mpiexec run; a loaded 2-core machine is slow
STEPS = 5
CASES = [('sgd', 1, 'compact'), ('sgd', 2, 'compact'), ('adam', 1, 'compact'),
         ('adam', 2, 'compact'), ('sgd', 2, 'nobn')]    # as in mpi_worker.py


def mpiexec():
    local = os.path.join(os.path.dirname(sys.executable), 'mpiexec')
    return local if os.path.exists(local) else shutil.which('mpiexec')


needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec('mpi4py') is None or mpiexec() is None,
    reason="needs the 'mpi' extra (mpi4py and mpiexec): pip install '.[mpi]'")


def launch(out, *args):
    """mpiexec -n 2 python mpi_worker.py ARGS; returns (completed process, seconds)."""
    env = dict(os.environ, HALCON_DL_NUM_THREADS='1')
    t0 = time.monotonic()
    done = subprocess.run([mpiexec(), '-n', '2', sys.executable, WORKER, args[0], str(out),
                           *map(str, args[1:])], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
    return done, time.monotonic() - t0


def load(out, name):
    with np.load(os.path.join(out, name + '.npz')) as z:
        arrays = {k: z[k] for k in z.files}
    with open(os.path.join(out, name + '.json')) as f:
        return arrays, json.load(f)


def assert_bit_identical(a, b, what):
    assert a.keys() == b.keys(), (what, set(a) ^ set(b))
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, (what, k)
        assert a[k].tobytes() == b[k].tobytes(), f'{what}: {k} differs'


def scenario_output(tmp_path_factory, scenario):
    """The folder of what both ranks wrote in a scenario that must end without error."""
    out = tmp_path_factory.mktemp(scenario)
    done, _ = launch(out, scenario)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope='module')
def equivalence(tmp_path_factory):
    return scenario_output(tmp_path_factory, 'equivalence')


@pytest.fixture(scope='module')
def faults(tmp_path_factory):
    return scenario_output(tmp_path_factory, 'faults')


# -- semantics --------------------------------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize('solver, multiplier, net', CASES)
def test_step_is_bit_identical_to_one_process_with_multiplier_p_times_m(equivalence, solver,
                                                                        multiplier, net):
    """Weights, BatchNorm statistics, optimiser state and every loss value after each of 5
    steps equal, bit for bit, those of one process with multiplier 2·M on both ranks' samples
    in rank order (rank 1 started from other weights and statistics: rank 0's were copied).
    'nobn': a network without BatchNorm (no statistics to exchange)."""
    for step in range(STEPS):
        mine, info = load(equivalence, f'{solver}_m{multiplier}_{net}_rank0_step{step}')
        ref, ref_info = load(equivalence, f'{solver}_m{multiplier}_{net}_ref_step{step}')
        assert_bit_identical(mine, ref, f'step {step}')
        assert info['losses'] == ref_info['losses']
        assert set(info['losses']) == {'total_loss', 'cross_entropy_loss', 'regularization_loss'}


@needs_mpi
@pytest.mark.parametrize('solver, multiplier, net', CASES)
def test_ranks_hold_bit_identical_models_after_every_step(equivalence, solver, multiplier, net):
    for step in range(STEPS):
        a, info_a = load(equivalence, f'{solver}_m{multiplier}_{net}_rank0_step{step}')
        b, info_b = load(equivalence, f'{solver}_m{multiplier}_{net}_rank1_step{step}')
        assert_bit_identical(a, b, f'step {step}')
        assert info_a['losses'] == info_b['losses']


@needs_mpi
@pytest.mark.parametrize('solver, multiplier, net', CASES)
def test_bytes_sent_per_step_follow_the_cost_formula(equivalence, solver, multiplier, net):
    """(M + 1)·(P - 1)/P·N values: rank 0 sends rank 1 the second half (values N//2 … N-1) of
    each of its M sub-batch gradients, then the sum of the first half; and its M·S BatchNorm
    increments (S running-statistic values); float32, 4 bytes."""
    arrays, info = load(equivalence, f'{solver}_m{multiplier}_{net}_rank0_step0')
    n = sum(a.size for k, a in arrays.items() if k.startswith('param.'))
    stats = sum(a.size for k, a in arrays.items() if k.startswith('buffer.'))
    sent = info['exchange']
    assert sent['gradients_bytes'] == multiplier * (n - n // 2) * 4
    assert sent['sums_bytes'] == n // 2 * 4
    assert sent.get('statistics_bytes', 0) == multiplier * stats * 4
    assert (stats > 0) == (net == 'compact')


# -- faults -----------------------------------------------------------------------------------------
@needs_mpi
def test_training_procedure_over_two_processes_is_the_one_process_run_with_twice_the_multiplier(
        tmp_path_factory):
    out = scenario_output(tmp_path_factory, 'procedure')
    ref, ref_info = load(out, 'procedure_reference')
    for rank in (0, 1):
        arrays, info = load(out, f'procedure_rank{rank}')
        assert_bit_identical(ref, arrays, f'rank {rank}')
        assert info['history']['epochs'][-1]['losses'] == ref_info['history']['epochs'][-1]['losses']
        assert info['history']['steps_per_epoch'] == ref_info['history']['steps_per_epoch'] == 3
        assert [r['validation'] for r in info['history']['epochs']] == \
            [r['validation'] for r in ref_info['history']['epochs']]
    assert os.path.exists(os.path.join(out, 'checkpoint_rank0.npz'))
    assert not os.path.exists(os.path.join(out, 'checkpoint_rank1.npz'))   # only rank 0 writes


def failed_step(out, step):
    """Both ranks' errors in ``step``, after checking that neither rank changed its model."""
    errors = []
    for rank in (0, 1):
        before, _ = load(out, f'faults_rank{rank}_before{step}')
        after, info = load(out, f'faults_rank{rank}_step{step}')
        assert_bit_identical(before, after, f'rank {rank} step {step}')
        assert info['losses'] is None
        errors.append(info['error'])
    return errors


@needs_mpi
def test_bad_sample_on_one_rank_fails_every_rank_naming_rank_and_sample(faults):
    for error in failed_step(faults, 1):
        assert "rank 1: sample 1 (image_id 103): key 'image_label_id'" in error
        assert 'no rank changed its model' in error


@needs_mpi
def test_non_finite_loss_on_one_rank_fails_every_rank(faults):
    for error in failed_step(faults, 2):
        assert 'non-finite' in error and 'rank 0 sub-batch 0' in error


@needs_mpi
def test_parameters_set_on_one_rank_only_fail_every_rank(faults):
    for error in failed_step(faults, 3):
        assert 'rank(s) [1] differ' in error


@needs_mpi
def test_a_fault_in_one_rank_s_code_keeps_its_exception_there_and_fails_the_others(faults):
    own, other = failed_step(faults, 5)
    assert own == 'RuntimeError: a bug in a task'
    assert other.startswith('HalconDLError: train_dl_model_batch failed on 1 of 2 ranks '
                            '(rank 0: RuntimeError: a bug in a task)')


@needs_mpi
def test_training_goes_on_after_failed_steps_as_if_they_never_happened(faults):
    """The reference trains only on steps 0 and 4; both ranks match it after step 4."""
    ref, ref_info = load(faults, 'faults_ref_step4')
    for rank in (0, 1):
        mine, info = load(faults, f'faults_rank{rank}_step4')
        assert_bit_identical(mine, ref, f'rank {rank}')
        assert info['losses'] == ref_info['losses']


@needs_mpi
def test_helpers_for_training_procedures(faults):
    for rank in (0, 1):
        with open(os.path.join(faults, f'helpers_rank{rank}.json')) as f:
            h = json.load(f)
        assert (h['rank'], h['size'], h['is_root']) == (rank, 2, rank == 0)
        assert h['allgather'] == [{'r': 0, 'x': 0.1}, {'r': 1, 'x': 0.2}]
        assert h['mean'] == {'a': (1 * 0.5 + 2 * 1.5) / 3}


@needs_mpi
@pytest.mark.parametrize('how', ['exit', 'hang'])
def test_rank_that_exits_or_hangs_mid_step_fails_the_other_within_the_timeout(tmp_path, how):
    """Rank 1 leaves (sys.exit) or sleeps inside its training call; rank 0 raises
    HalconDLError naming rank 1 after the 2 s deadline, unchanged, and then ends the job."""
    timeout = 2.0
    done, seconds = launch(tmp_path, 'dead', how, timeout)
    before, _ = load(tmp_path, 'dead_rank0_before')
    after, info = load(tmp_path, 'dead_rank0_after')
    assert 'rank(s) [1] did not answer within 2 s' in info['error']
    assert timeout <= info['seconds'] < timeout + 30
    assert_bit_identical(before, after, 'rank 0')
    assert done.returncode != 0                     # MPI_Abort at exit: the job failed
    assert seconds < 90                             # the hanging rank did not hold the job


@needs_mpi
def test_rank_killed_mid_step_ends_the_job(tmp_path):
    """A rank killed by a signal: mpiexec ends the other at once (long before its 60 s
    deadline), so it never completes the step."""
    done, seconds = launch(tmp_path, 'dead', 'kill', 60)
    assert done.returncode != 0
    assert seconds < 45
    assert os.path.exists(tmp_path / 'dead_rank0_before.npz')
    assert not os.path.exists(tmp_path / 'dead_rank0_after.npz')


# -- without MPI ------------------------------------------------------------------------------------
def tiny_model():
    return hdl.create_dl_model('classification', class_ids=[0, 1], image_width=4, image_height=4,
                               image_num_channels=1, batch_size=2)


def test_without_mpi4py_data_parallel_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'mpi4py', None)           # import mpi4py fails
    model = tiny_model()
    with pytest.raises(hdl.HalconDLError, match=r"pip install 'halcon-dl\[mpi\]'"):
        distributed.data_parallel(model)
    assert model.replicas is None
    hdl.train_dl_model_batch(model, random_samples(model, 2))  # training works without it


def test_a_model_that_is_not_distributed_is_rank_0_of_1():
    model = tiny_model()
    assert (distributed.rank(model), distributed.size(model), distributed.is_root(model)) == (0, 1, True)
    assert distributed.shard(range(5), model) == [0, 1, 2, 3, 4]
    assert distributed.allgather({'a': [1, 2.5]}, model) == [{'a': [1, 2.5]}]
    assert distributed.mean_over_ranks({'a': 0.25}, model, weight=7) == {'a': 0.25}


@given(n=st.integers(0, 200), p=st.integers(1, 64))
def test_shards_are_contiguous_balanced_and_in_rank_order(n, p):
    parts = [distributed.shard(range(n), types.SimpleNamespace(
        replicas=types.SimpleNamespace(rank=r, size=p))) for r in range(p)]
    assert sum(parts, []) == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_timeout_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv(distributed.TIMEOUT_VARIABLE, raising=False)
    assert distributed.check_timeout() == distributed.DEFAULT_TIMEOUT == 300.0
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, '12.5')
    assert distributed.check_timeout() == 12.5
    assert distributed.check_timeout(3) == 3.0
    for bad in ('soon', '0', '-1', 'inf', 'nan'):
        monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, bad)
        with pytest.raises(hdl.HalconDLError, match=distributed.TIMEOUT_VARIABLE):
            distributed.check_timeout()
    with pytest.raises(hdl.HalconDLError, match='timeout'):
        distributed.check_timeout(0)


def test_a_buffer_that_is_not_a_running_average_is_refused_before_mpi_starts(monkeypatch):
    from halcon_dl.nn.module import Buffer
    monkeypatch.setitem(sys.modules, 'mpi4py', None)
    model = tiny_model()
    model.network.fc.count = Buffer(np.zeros(1, dtype=np.float32))
    with pytest.raises(hdl.HalconDLError, match="buffer 'fc.count' of Dense is not a running"):
        distributed.data_parallel(model)


@needs_mpi
def test_training_command_runs_distributed_and_only_rank_0_reports(tmp_path):
    script = tmp_path / 'train.py'
    script.write_text(
        'import sys, halcon_dl.datasets as d\n'
        's = d.make_shapes_dataset(40, image_size=32, seed=3)\n'
        'd.default_dataset = lambda seed=0: (s[:32], s[32:])\n'
        'from halcon_dl.__main__ import main\n'
        "sys.exit(main(['train', '--distributed', '--epochs', '2', '--batch-size', '4']))\n")
    env = dict(os.environ, HALCON_DL_NUM_THREADS='1')
    done = subprocess.run([mpiexec(), '-n', '2', sys.executable, str(script)], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=LAUNCH_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count('training a classification model') == 1
    assert '4 steps of 8 per epoch over 2 processes' in done.stdout
    assert done.stdout.count('validation accuracy') == 2
