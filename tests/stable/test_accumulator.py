"""TailIndexAccumulator: equals the batch estimator on the same data, bounded memory, bad input."""

import tracemalloc

import numpy as np
import pytest
import scipy.stats as st

from tfescape.stable.accumulator import TailIndexAccumulator
from tfescape.stable.tail_index import tail_index


def _chunks(x, rng):
    """Split the last axis of x at random points (chunks shorter and longer than a block)."""
    cuts = np.sort(rng.choice(np.arange(1, x.shape[-1]), size=40, replace=False))
    return np.split(x, cuts, axis=-1)


def test_streamed_result_equals_batch_estimator_on_same_blocks():
    rng = np.random.default_rng(0)
    x = st.levy_stable.rvs(1.4, 0.0, size=(2, 3, 20_037), random_state=rng)  # 37 leftover samples
    acc = TailIndexAccumulator(block_size=100)
    for chunk in _chunks(x, rng):
        acc.update(chunk)
    streamed = acc.result()
    batch = tail_index(x, block_size=100, interval="asymptotic")
    assert streamed.num_samples == batch.num_samples == 20_037
    assert acc.num_blocks == 200 and streamed.block_size == 100
    np.testing.assert_allclose(streamed.alpha.numpy(), batch.alpha.numpy(), rtol=1e-10)
    np.testing.assert_allclose(streamed.ci_low.numpy(), batch.ci_low.numpy(), rtol=1e-10)
    np.testing.assert_allclose(streamed.ci_high.numpy(), batch.ci_high.numpy(), rtol=1e-10)
    assert streamed.alpha.shape == (2, 3)


def test_streamed_estimate_recovers_alpha():
    # One long scipy sample fed as 50 chunks; K2 = 500 blocks of 400. se(1/alpha) ~0.007, so 0.07 on
    # alpha = 1.6 is > 3.5 standard errors (false failure < 5e-4).
    x = st.levy_stable.rvs(1.6, 0.0, size=200_000, random_state=np.random.default_rng(8))
    acc = TailIndexAccumulator(block_size=400)
    for chunk in np.split(x, 50):
        acc.update(chunk)
    result = acc.result()
    assert abs(float(result.alpha) - 1.6) < 0.07
    assert float(result.ci_low) <= float(result.alpha) <= float(result.ci_high)


def test_memory_does_not_grow_with_number_of_chunks():
    rng = np.random.default_rng(1)
    acc = TailIndexAccumulator(block_size=1000)
    chunk_bytes = 50_000 * 8
    acc.update(rng.standard_cauchy(50_000))
    tracemalloc.start()
    for _ in range(100):
        acc.update(rng.standard_cauchy(50_000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Processing one chunk needs a few chunk-sized temporaries; 100 chunks stored would need 100x.
    assert peak < 8 * chunk_bytes
    assert acc.num_samples == 101 * 50_000


@pytest.mark.parametrize(
    ("chunks", "match"),
    [
        ([np.array([1.0, np.nan, 2.0])], "NaN or inf"),
        ([np.array([1.0, 0.0, 2.0])], "exact zeros"),
        ([np.ones((2, 5)), np.ones((3, 5))], "batch shape"),
    ],
)
def test_bad_chunks_raise(chunks, match):
    acc = TailIndexAccumulator(block_size=4)
    with pytest.raises(ValueError, match=match):
        for chunk in chunks:
            acc.update(chunk)


def test_too_few_blocks_and_constant_data_raise():
    acc = TailIndexAccumulator(block_size=10)
    acc.update(np.arange(1.0, 16.0))
    with pytest.raises(ValueError, match="too few samples"):
        acc.result()
    acc.reset()
    acc.update(np.full(100, 2.5))
    with pytest.raises(ValueError, match="constant"):
        acc.result()
    with pytest.raises(ValueError, match="block_size"):
        TailIndexAccumulator(block_size=1)
