"""How kernels.conv.batch_chunks splits a batch: equal shares per thread within the budget, one
chunk for a layer too small to pay for a second thread."""
import pytest

from halcon_dl.kernels.conv import MIN_PARALLEL_BYTES, batch_chunks


def covers(chunks, n):
    return [i for lo, hi in chunks for i in range(lo, hi)] == list(range(n))


@pytest.mark.parametrize('n', [1, 2, 7, 8, 33])
def test_small_layers_run_as_one_chunk(n):
    per_sample = (MIN_PARALLEL_BYTES - 1) // n
    assert batch_chunks(n, per_sample, parallel=2) == [(0, n)]


@pytest.mark.parametrize('n', [2, 7, 8, 33])
def test_large_layers_give_every_thread_an_equal_share(n):
    per_sample = -(-MIN_PARALLEL_BYTES // n)              # n * per_sample >= the threshold
    chunks = batch_chunks(n, per_sample, parallel=2, budget=1 << 40)
    assert len(chunks) == 2 and covers(chunks, n)
    assert abs((chunks[0][1] - chunks[0][0]) - (chunks[1][1] - chunks[1][0])) <= 1


def test_the_budget_bounds_the_chunks_of_all_threads_together():
    chunks = batch_chunks(64, 1 << 20, parallel=2, budget=8 << 20)    # 4 samples per chunk
    assert covers(chunks, 64) and len(chunks) % 2 == 0
    assert max(hi - lo for lo, hi in chunks) * 2 * (1 << 20) <= 8 << 20
