"""Bad input to every public name of tfescape.stable: a clear ValueError, never a confident number."""

import numpy as np
import pytest

from tests.bad_input import (
    INF,
    NAN,
    assert_clear_value_error,
    assert_every_name_covered,
    flatten_cases,
)
from tfescape import stable

_X = np.random.default_rng(0).standard_cauchy(400)

CASES = {
    "Stable": [
        (lambda: stable.Stable(2.5, 0.0), "alpha"),
        (lambda: stable.Stable(0.0, 0.0), "alpha"),
        (lambda: stable.Stable(NAN, 0.0), "alpha"),
        (lambda: stable.Stable(1.5, 1.5), "beta"),
        (lambda: stable.Stable(1.5, NAN), "beta"),
        (lambda: stable.Stable(1.5, 0.0, scale=0.0), "scale"),
        (lambda: stable.Stable(1.5, 0.0, scale=INF), "scale"),
        (lambda: stable.Stable(1.5, 0.0, loc=NAN), "loc"),
        (lambda: stable.Stable(1.5, 0.0, parameterization="S2"), "parameterization"),
    ],
    "SymmetricStable": [
        (lambda: stable.SymmetricStable(2.01), "alpha"),
        (lambda: stable.SymmetricStable(-1.0), "alpha"),
        (lambda: stable.SymmetricStable([1.5, NAN]), "alpha"),
        (lambda: stable.SymmetricStable(1.5, scale=-1.0), "scale"),
        (lambda: stable.SymmetricStable(1.5, loc=INF), "loc"),
    ],
    "levy_measure_constant": [
        (lambda: stable.levy_measure_constant(3.0), "alpha"),
        (lambda: stable.levy_measure_constant(NAN), "alpha"),
        (lambda: stable.levy_measure_constant(np.array([1.0, 0.0])), "alpha"),
    ],
    "stable_sample": [
        (lambda: stable.stable_sample([4], 2.5, 0.0, seed=0), "alpha"),
        (lambda: stable.stable_sample([4], NAN, 0.0, seed=0), "alpha"),
        (lambda: stable.stable_sample([4], 1.5, -3.0, seed=0), "beta"),
        (lambda: stable.stable_sample([4], 1.5, 0.0, scale=0.0, seed=0), "scale"),
        (lambda: stable.stable_sample([4], 1.5, 0.0, loc=NAN, seed=0), "loc"),
        (lambda: stable.stable_sample([-1], 1.5, 0.0, seed=0), "shape"),
        (lambda: stable.stable_sample([4], 1.5, 0.0, parameterization="S9", seed=0), "parameterization"),
    ],
    "symmetric_stable_sample": [
        (lambda: stable.symmetric_stable_sample([4], 0.0, seed=0), "alpha"),
        (lambda: stable.symmetric_stable_sample([4], INF, seed=0), "alpha"),
        (lambda: stable.symmetric_stable_sample([4], 1.5, scale=-2.0, seed=0), "scale"),
        (lambda: stable.symmetric_stable_sample([4], 1.5, scale=NAN, seed=0), "scale"),
        (lambda: stable.symmetric_stable_sample([2, -3], 1.5, seed=0), "shape"),
    ],
    "fit": [
        (lambda: stable.fit(np.r_[_X[:100], NAN]), "NaN"),
        (lambda: stable.fit(np.r_[_X[:100], INF]), "inf"),
        (lambda: stable.fit(np.array([])), "samples"),
        (lambda: stable.fit(np.ones(100)), "constant"),
        (lambda: stable.fit(np.array(["a"] * 30)), "dtype"),
        (lambda: stable.fit(_X[:100], method="bogus"), "method"),
        (lambda: stable.fit(np.float64(1.0)), "shape"),
    ],
    "TailIndexAccumulator": [
        (lambda: stable.TailIndexAccumulator(0), "block_size"),
        (lambda: stable.TailIndexAccumulator(10, confidence=2.0), "confidence"),
        (lambda: stable.TailIndexAccumulator(10, confidence=NAN), "confidence"),
        (lambda: stable.TailIndexAccumulator(10).update(np.r_[_X[:50], NAN]), "NaN"),
        (lambda: stable.TailIndexAccumulator(10).result(), "samples"),
    ],
    "tail_index": [
        (lambda: stable.tail_index(np.r_[_X, NAN], seed=0), "NaN"),
        (lambda: stable.tail_index(np.r_[_X, -INF], seed=0), "inf"),
        (lambda: stable.tail_index(np.array([]), seed=0), "samples"),
        (lambda: stable.tail_index(np.zeros(400), seed=0), "constant"),
        (lambda: stable.tail_index(np.array(["x"] * 400), seed=0), "dtype"),
        (lambda: stable.tail_index(_X, method="bogus", seed=0), "method"),
        (lambda: stable.tail_index(_X, confidence=2.0, seed=0), "confidence"),
        (lambda: stable.tail_index(_X, confidence=NAN, seed=0), "confidence"),
        (lambda: stable.tail_index(_X, interval="wide", seed=0), "interval"),
        (lambda: stable.tail_index(_X, block_size=1, seed=0), "block_size"),
        (lambda: stable.tail_index(_X, method="hill", k=0, seed=0), "k="),
        (lambda: stable.tail_index(_X, num_bootstrap=1, seed=0), "num_bootstrap"),
    ],
}

RESULT_TYPES = {"StableFit", "StableStderr", "TailIndexResult"}


def test_every_public_name_has_bad_input_cases():
    assert_every_name_covered(stable, CASES, RESULT_TYPES)


@pytest.mark.parametrize("name, call, match", flatten_cases(CASES))
def test_bad_input_gives_a_clear_value_error(name, call, match):
    assert_clear_value_error(call, match)


def test_tensor_parameters_inside_tf_function_are_left_to_validate_args():
    """Symbolic parameters cannot be checked in Python: the draw still runs (documented)."""
    import tensorflow as tf

    @tf.function
    def draw(alpha):
        return stable.symmetric_stable_sample([3], alpha, seed=0)

    assert draw(tf.constant(1.5)).shape == (3,)
