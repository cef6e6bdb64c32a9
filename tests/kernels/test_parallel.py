"""The thread pool under Ctrl-C: an interrupt while a parallel section runs waits for the running
tasks (no worker is left writing into the caller's arrays or running at exit) and leaves the
pool usable."""
import _thread
import threading
import time

import numpy as np
import pytest

from halcon_dl.kernels import parallel


@pytest.fixture
def two_threads():
    before = parallel.num_threads()
    parallel.set_num_threads(2)
    yield
    parallel.set_num_threads(before)


def test_interrupt_during_a_parallel_section_waits_for_the_running_tasks(two_threads):
    finished, second_started = [], threading.Event()

    def task(lo, hi):
        if lo == 0:                       # the first range interrupts the waiting caller
            second_started.wait(5)
            _thread.interrupt_main()
        else:
            second_started.set()
            time.sleep(0.3)               # still running when the interrupt arrives
        finished.append(lo)

    with pytest.raises(KeyboardInterrupt):
        parallel.parallel_for(task, 8, np, work=1 << 30)
    # the slow range (on a pool thread) finished before the interrupt came out; the caller's
    # own range (the first) may have been cut short by the interrupt
    assert 4 in finished

    done = []
    parallel.parallel_for(lambda lo, hi: done.append((lo, hi)), 8, np, work=1 << 30)
    assert sorted(done) == [(0, 4), (4, 8)]


def test_a_failing_task_lets_the_others_finish_and_its_error_comes_out(two_threads):
    finished, second_started = [], threading.Event()

    def task(lo, hi):
        if lo == 0:
            second_started.wait(5)
            raise RuntimeError('task failed')
        second_started.set()
        time.sleep(0.3)
        finished.append(lo)

    with pytest.raises(RuntimeError, match='task failed'):
        parallel.parallel_for(task, 8, np, work=1 << 30)
    assert finished == [4]


def test_a_task_that_starts_after_the_caller_gave_up_does_not_run():
    # a task can still sit in the queue when Ctrl-C arrives (even while it is being submitted)
    section, ran = parallel._Section(), []
    section.abandon()
    section.run(lambda lo, hi: ran.append((lo, hi)), 0, 4)
    assert ran == [] and section.running == 0


@pytest.mark.parametrize('value', ['abc', '0', '-1', '1.5', ''])
def test_thread_count_from_the_environment_is_validated(monkeypatch, value):
    import halcon_dl.kernels.parallel as parallel
    from halcon_dl import HalconDLError
    monkeypatch.setattr(parallel, '_threads', None)
    monkeypatch.setenv('HALCON_DL_NUM_THREADS', value)
    if value == '':                                    # unset: the usable cores
        assert parallel.num_threads() >= 1
    else:
        with pytest.raises(HalconDLError, match='HALCON_DL_NUM_THREADS must be an integer >= 1'):
            parallel.num_threads()
    monkeypatch.setattr(parallel, '_threads', None)
