"""The noise-sample format, its two poolings and its loader (tfescape.noise)."""

import numpy as np
import pytest

from tfescape import noise


def _samples(rng, step=40):
    big = rng.standard_cauchy((6, 10)) * np.logspace(-3, 1, 10)
    big[:, 3] = 0.0  # a coordinate that never moves
    small = rng.standard_normal((6, 4))
    return noise.NoiseSamples(
        step, ("dense/kernel", "dense/bias"), (big, small), (np.arange(10), np.arange(4)), (100, 4)
    )


def test_raw_pool_keeps_the_values_and_counts_coordinates_that_never_move():
    values = np.array([[1.0, 0.0, -2.0], [3.0, 0.0, np.nan], [-5.0, 0.0, 4.0]])
    pool = noise.pool_columns(values, pooling="raw")
    np.testing.assert_array_equal(pool.values, [1.0, -2.0, 3.0, -5.0, 4.0])
    assert pool.dropped_coordinates == 1 and pool.coordinates == 2


def test_standardized_pool_divides_each_coordinate_by_its_median_abs():
    values = np.array([[1.0, 10.0], [-2.0, 30.0], [4.0, -20.0]])
    pool = noise.pool_columns(values)
    expected = np.concatenate([values[:, 0] / 2.0, values[:, 1] / 20.0])
    np.testing.assert_allclose(np.sort(pool.values), np.sort(expected))


def test_global_pool_takes_the_same_fraction_of_every_variable(tmp_path):
    s = _samples(np.random.default_rng(0))
    pool = noise.pool_noise(s.noise, s.sizes, pooling="raw")
    # fraction = min(10/100, 4/4) = 0.1: all 10 kernel coordinates (one dead), round(0.4) -> 1 bias one.
    assert pool.coordinates == 9 + 1 and pool.dropped_coordinates == 1
    assert pool.values.size == 6 * 10


def test_save_load_round_trip_and_load_pool_equals_the_in_memory_pool(tmp_path):
    s = _samples(np.random.default_rng(1))
    path = noise.save_noise_samples(s, tmp_path)
    assert path == noise.samples_path(tmp_path, 40) and noise.sample_steps(tmp_path) == [40]
    back = noise.load_noise_samples(path)
    assert back.step == 40 and back.names == s.names and back.sizes == s.sizes and back.smoothed is None
    for pooling in noise.POOLINGS:
        np.testing.assert_array_equal(
            noise.load_pool(path, pooling=pooling).values,
            noise.pool_noise(s.noise, s.sizes, pooling=pooling).values,
        )
    with pytest.raises(ValueError, match="no smoothed noise"):
        noise.load_pool(path, smoothed=True)


def test_damaged_or_missing_files_name_the_file(tmp_path):
    path = noise.save_noise_samples(_samples(np.random.default_rng(2)), tmp_path)
    with open(path, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(ValueError, match="damaged") as info:
        noise.load_noise_samples(path)
    assert path in str(info.value)
    with pytest.raises(ValueError, match="do not exist"):
        noise.load_noise_samples(tmp_path / "noise_step00000001.npz")
    with pytest.raises(ValueError, match="pooling must be one of"):
        noise.pool_columns(np.ones((2, 2)), pooling="paper")
