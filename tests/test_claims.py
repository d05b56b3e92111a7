"""The claim chain: verdicts from intervals, Wilson intervals, findings generated from the numbers."""

import math

import pytest
from scipy import stats

from tfescape.claims import Estimate, claim_chain, compare_link, findings, wilson_interval


@pytest.mark.parametrize(
    "first, second, expect, verdict",
    [
        (Estimate(1.29, 1.25, 1.33), Estimate(1.42, 1.38, 1.46), "lower", "supports"),
        (Estimate(1.42, 1.38, 1.46), Estimate(1.29, 1.25, 1.33), "lower", "contradicts"),
        (Estimate(1.30, 1.20, 1.40), Estimate(1.35, 1.25, 1.45), "lower", "inconclusive"),
        (Estimate(343.0), Estimate(665.0), "lower", "supports"),  # no intervals: compared as they are
        (Estimate(98.6, 97.0, 99.5), Estimate(97.8, 96.0, 98.9), "higher", "inconclusive"),
        (Estimate(math.nan), Estimate(1.0), "lower", "inconclusive"),
        # A censored mean (no exit within 600 steps) against a finite one that lies below its bound.
        (Estimate(120.0, 100.0, 140.0), Estimate(math.inf, 600.0, math.inf), "lower", "supports"),
        (Estimate(math.inf, 600.0, math.inf), Estimate(120.0, 100.0, 140.0), "lower", "contradicts"),
        (Estimate(math.inf, 100.0, math.inf), Estimate(120.0, 100.0, 140.0), "lower", "inconclusive"),
    ],
)
def test_verdicts(first, second, expect, verdict):
    assert compare_link(1, "q", first, second, expect=expect).verdict == verdict


def test_wilson_interval_matches_scipy():
    expected = stats.binomtest(287, 360).proportion_ci(0.95, method="wilson")
    low, high = wilson_interval(287 / 360, 360)
    assert low == pytest.approx(expected.low, rel=1e-9) and high == pytest.approx(expected.high, rel=1e-9)
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0.5, 0)


def _chain(alpha_sgd, predicted_sgd):
    return claim_chain(
        {
            1: (Estimate(alpha_sgd, alpha_sgd - 0.04, alpha_sgd + 0.04), Estimate(1.42, 1.38, 1.46)),
            3: (Estimate(predicted_sgd), Estimate(343.0)),
            6: (Estimate(98.6, 97.0, 99.5), Estimate(97.8, 96.0, 98.9)),
        }
    )


def test_findings_are_generated_from_the_numbers():
    text = " ".join(findings(_chain(1.29, 665.0), "SGD", "Adam", floor_share=0.6))
    assert "SGD's gradient noise is heavier tailed than Adam's, as the paper says" in text
    assert "1.29 [1.25, 1.33]" in text and "665" in text and "343" in text
    assert "Contrary to the paper" in text and "epsilon floor" in text and "60%" in text
    assert "1 support it, 1 contradict it and 1 are inconclusive" in text

    other = " ".join(findings(_chain(1.55, 120.0), "SGD", "Adam", floor_share=0.6))
    assert other != text
    assert "1.55 [1.51, 1.59]" in other and "epsilon floor" not in other
    assert "Contrary to the paper, it is not true here that SGD's gradient noise is heavier tailed" in other

    ratios = [
        ("SGD from the SGD minimum", Estimate(2.0, 1.5, 2.6)),
        ("Adam from the SGD minimum", Estimate(math.inf, 1.7, math.inf)),
    ]
    with_ratios = " ".join(findings(_chain(1.29, 665.0), "SGD", "Adam", observed_over_predicted=ratios))
    assert "took 2 times the predicted iterations" in with_ratios
    too_few = "Too few replicas left the basin within the step budget to estimate a mean exit"
    assert f"{too_few} for Adam from the SGD minimum" in with_ratios
    assert "(at least 1.7 times)" in with_ratios


def test_unknown_links_and_expectations_are_refused():
    with pytest.raises(ValueError, match="numbered 1..6"):
        claim_chain({7: (Estimate(1.0), Estimate(2.0))})
    with pytest.raises(ValueError, match="expect"):
        compare_link(1, "q", Estimate(1.0), Estimate(2.0), expect="smaller")
