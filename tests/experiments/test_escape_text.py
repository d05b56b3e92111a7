"""The observed-escape cell of the escape table says how many replicas left when no mean is estimated."""

import math

from tfescape.experiments.escape import _interval_text


def _row(mean, low, high, escaped_fraction, replicas=8):
    return {
        "mean": mean,
        "low": low,
        "high": high,
        "escaped_fraction": escaped_fraction,
        "replicas": replicas,
    }


def test_censored_observations_name_how_many_replicas_left():
    assert _interval_text(_row(math.inf, 300.0, math.inf, 0.0)) == "> 300 (none left)"
    assert _interval_text(_row(math.inf, 271.75, math.inf, 0.125)) == "> 271.8 (1 of 8 left)"
    assert _interval_text(_row(5.75, 5.43, 6.07, 1.0)).startswith("5.75 ")
    assert _interval_text(None) is None
