"""tfescape._checks: each validator accepts good values, names the parameter when it refuses."""

import numpy as np
import pytest
import tensorflow as tf

from tfescape import _checks

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "check, good, bad",
    [
        (_checks.finite_float, [0.0, -3, np.float32(2.5)], [NAN, INF, "1", True, [1.0]]),
        (_checks.positive_float, [1e-300, 7], [0.0, -1.0, NAN, INF]),
        (_checks.nonnegative_float, [0.0, 2.0], [-1e-12, NAN, INF]),
        (_checks.probability, [0.5, 1e-9], [0.0, 1.0, NAN, 2.0]),
        (_checks.positive_int, [1, np.int64(3), 4.0], [0, -1, 1.5, NAN, True, "2"]),
        (_checks.stable_alpha, [2.0, 1e-3, np.array([1.0, 1.9])], [0.0, 2.01, NAN, np.array([1.0, 3.0])]),
        (_checks.stable_beta, [-1.0, 1.0], [1.5, NAN]),
        (_checks.stable_scale, [1e-9, np.array([1.0, 2.0])], [0.0, INF, NAN, -1.0]),
        (_checks.finite_values, [np.ones(3), 2], [np.array([1.0, NAN]), INF, np.array(["a"])]),
        (
            _checks.real_dtype,
            [np.ones(3), [1, 2], tf.constant([1.0])],
            [np.array(["a"]), [1j], tf.constant(["a"])],
        ),
        (_checks.sample_shape, [[2, 3], [], (0,)], [[-1], [1.5], [[2]]]),
        (_checks.callable_, [len], [3, None]),
    ],
)
def test_accepts_good_values_and_names_the_parameter_for_bad_ones(check, good, bad):
    for value in good:
        check(value, "param")
    for value in bad:
        with pytest.raises(ValueError, match="param"):
            check(value, "param")


def test_finite_array_reports_count_and_rejects_empty_and_wrong_rank():
    np.testing.assert_array_equal(_checks.finite_array([1, 2], "x"), [1.0, 2.0])
    with pytest.raises(ValueError, match="x contains 2 non-finite"):
        _checks.finite_array([NAN, 1.0, INF], "x")
    with pytest.raises(ValueError, match="at least 1"):
        _checks.finite_array([], "x")
    with pytest.raises(ValueError, match="2 dimension"):
        _checks.finite_array([1.0], "x", ndim=2)
    with pytest.raises(ValueError, match="dtype"):
        _checks.finite_array(["a"], "x")


def test_choice_interval_and_result_checks():
    assert _checks.choice("a", "mode", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="mode must be one of 'a', 'b'"):
        _checks.choice("c", "mode", ("a", "b"))
    assert _checks.in_interval(0.0, "t", 0.0, 1.0, high_open=True) == 0.0
    with pytest.raises(ValueError, match=r"t must be in \[0.0, 1.0\)"):
        _checks.in_interval(1.0, "t", 0.0, 1.0, high_open=True)
    with pytest.raises(ValueError, match="H v has 1 non-finite"):
        _checks.finite_result(np.array([1.0, NAN]), "H v")


def test_symbolic_tensors_pass_unchecked():
    @tf.function
    def run(alpha):
        _checks.stable_alpha(alpha, "alpha")
        _checks.finite_values(alpha, "alpha")
        return alpha

    assert float(run(tf.constant(5.0))) == 5.0
