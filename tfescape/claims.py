"""The paper's argument as a chain of checkable links, verdicts from a run's numbers, and findings in words.

Zhou et al. (2020) argue, for SGD against Adam: (1) SGD's gradient noise is heavier tailed (smaller alpha);
(2) the Levy measure m(W) of the jumps that leave a sharp basin is larger for SGD; (3) so SGD's predicted
escape from the sharp basin is faster; (4) and it does escape faster; (5) so SGD ends in a flatter minimum;
(6) which generalizes better. For a pair of optimizer runs (the first in SGD's role) each link gets the two
measured values, their intervals where the run has them, and a verdict:

- "supports": the values are ordered as the paper says and their intervals do not overlap;
- "contradicts": ordered the other way, intervals apart;
- "inconclusive": the intervals overlap, or a value is missing or not finite.

A value without an interval (a prediction, a single Hessian eigenvalue) is compared as it is. The findings
are sentences built from these numbers only; they change when the numbers do.

Example:
    >>> link = compare_link(1, "gradient-noise tail index alpha", Estimate(1.29, 1.25, 1.33),
    ...                     Estimate(1.42, 1.38, 1.46), expect="lower")
    >>> link.verdict
    'supports'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["VERDICTS", "Estimate", "ClaimLink", "compare_link", "claim_chain", "findings", "wilson_interval"]

VERDICTS = ("supports", "contradicts", "inconclusive")

_CLAIMS = {
    1: ("gradient-noise tail index alpha", "lower", "{a}'s gradient noise is heavier tailed than {b}'s"),
    2: (
        "escaping-set measure m(W), sharper basin",
        "higher",
        "{a}'s jumps leave the sharper basin more easily",
    ),
    3: (
        "predicted escape from the sharper basin (iterations)",
        "lower",
        "{a} is predicted to leave the sharper basin sooner",
    ),
    4: (
        "observed escape from the sharper basin (iterations)",
        "lower",
        "{a} leaves the sharper basin sooner in real training",
    ),
    5: ("top Hessian eigenvalue of the final minimum", "lower", "{a} ends in a flatter minimum"),
    6: ("test accuracy (%)", "higher", "{a} generalizes better"),
}


@dataclass(frozen=True)
class Estimate:
    """A measured value with an optional interval [low, high] (NaN bounds: no interval)."""

    value: float
    low: float = math.nan
    high: float = math.nan

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def text(self) -> str:
        if not math.isfinite(self.value):
            return "n/a" if math.isnan(self.value) else f"> {self.low:.4g}"
        if self.has_interval:
            return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"
        return f"{self.value:.4g}"


@dataclass(frozen=True)
class ClaimLink:
    """One link of the argument for a pair of runs.

    Attributes:
        number: 1..6 as in the module docstring.
        quantity: what is compared, with its unit.
        expect: "lower" or "higher": how the paper says ``first`` compares with ``second``.
        first, second: the two runs' estimates (first in SGD's role).
        verdict: one of VERDICTS.
    """

    number: int
    quantity: str
    expect: str
    first: Estimate
    second: Estimate
    verdict: str


def compare_link(number: int, quantity: str, first: Estimate, second: Estimate, *, expect: str) -> ClaimLink:
    """The verdict of one link (module docstring).

    Raises:
        ValueError: ``expect`` not "lower" or "higher".
    """
    if expect not in ("lower", "higher"):
        raise ValueError(f"expect must be 'lower' or 'higher', got {expect!r}.")
    a, b = first, second
    if not (math.isfinite(a.value) and math.isfinite(b.value)):
        verdict = _apart_censored(a, b, expect) or "inconclusive"
    elif a.has_interval and b.has_interval and not (a.high < b.low or b.high < a.low):
        verdict = "inconclusive"
    elif a.value == b.value:
        verdict = "inconclusive"
    else:
        holds = a.value < b.value if expect == "lower" else a.value > b.value
        verdict = "supports" if holds else "contradicts"
    return ClaimLink(number, quantity, expect, a, b, verdict)


def _apart_censored(a: Estimate, b: Estimate, expect: str):
    """A censored (infinite) mean against a finite one: ordered when the finite interval lies below the
    censored one's lower bound; otherwise None."""
    if math.isinf(a.value) and math.isfinite(b.value) and math.isfinite(a.low):
        top = b.high if b.has_interval else b.value
        if top < a.low:
            return "supports" if expect == "higher" else "contradicts"
    if math.isinf(b.value) and math.isfinite(a.value) and math.isfinite(b.low):
        top = a.high if a.has_interval else a.value
        if top < b.low:
            return "supports" if expect == "lower" else "contradicts"
    return None


def claim_chain(measured: dict[int, tuple[Estimate, Estimate]]) -> tuple[ClaimLink, ...]:
    """The links the run measured: ``measured`` maps a link number (1..6) to (first, second) estimates."""
    unknown = sorted(set(measured) - set(_CLAIMS))
    if unknown:
        raise ValueError(f"unknown claim links {unknown}; links are numbered 1..6.")
    return tuple(compare_link(n, _CLAIMS[n][0], *measured[n], expect=_CLAIMS[n][1]) for n in sorted(measured))


def wilson_interval(fraction: float, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion measured on n trials (e.g. a test accuracy)."""
    from statistics import NormalDist

    if n < 1 or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"need n >= 1 and a fraction in [0, 1], got n={n}, fraction={fraction}.")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    center = (fraction + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(fraction * (1 - fraction) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return center - half, center + half


def findings(
    links: Sequence[ClaimLink],
    first: str,
    second: str,
    *,
    observed_over_predicted: Sequence[tuple[str, Estimate]] = (),
    floor_share: float | None = None,
) -> list[str]:
    """Sentences that state what the links found, generated from their numbers.

    Args:
        links: the pair's links (claim_chain).
        first, second: display names of the two runs (first in SGD's role).
        observed_over_predicted: (what, observed / predicted ratio with interval) per basin and optimizer.
        floor_share: share of the second run's coordinates whose preconditioner is at its epsilon floor
            (Q < 10 epsilon), or None; used to explain an amplified noise.

    Returns:
        A list of sentences.
    """
    out = []
    verdicts = [link.verdict for link in links]
    counts = {v: verdicts.count(v) for v in VERDICTS}
    out.append(
        f"Of the {len(links)} links of the paper's argument measured for {first} against {second}, "
        f"{counts['supports']} support it, {counts['contradicts']} contradict it and "
        f"{counts['inconclusive']} are inconclusive (overlapping intervals or missing values)."
    )
    for link in links:
        statement = _CLAIMS[link.number][2].format(a=first, b=second)
        numbers = f"{link.quantity}: {first} {link.first.text()}, {second} {link.second.text()}"
        if link.verdict == "supports":
            out.append(f"{statement}, as the paper says ({numbers}).")
        elif link.verdict == "contradicts":
            out.append(f"Contrary to the paper, it is not true here that {statement} ({numbers}).")
        else:
            out.append(f"This run cannot tell whether {statement} ({numbers}).")
    by = {link.number: link for link in links}
    if 3 in by and by[3].verdict == "contradicts" and floor_share is not None and floor_share > 0.1:
        out.append(
            f"A likely reason for the faster predicted escape of {second}: its preconditioner Q sits at the "
            f"epsilon floor (Q < 10 epsilon) on {100 * floor_share:.0f}% of coordinates, where the step "
            f"lr / Q is largest, which amplifies its gradient noise instead of damping it."
        )
    if 1 in by and 3 in by and by[1].verdict == "supports" and by[3].verdict == "contradicts":
        out.append(
            f"The heavier tail of {first}'s noise does not carry over to a faster predicted escape: in the "
            "exit law the noise scale and the preconditioner weigh more than the tail index here."
        )
    ratios = [
        (what, r) for what, r in observed_over_predicted if math.isfinite(r.value) or math.isfinite(r.low)
    ]
    if ratios:
        finite = [r.value for _, r in ratios if math.isfinite(r.value)]
        censored = [what for what, r in ratios if not math.isfinite(r.value)]
        if finite:
            span = (
                f"{min(finite):.3g}"
                if f"{min(finite):.3g}" == f"{max(finite):.3g}"
                else f"{min(finite):.3g} to {max(finite):.3g}"
            )
            verdict = (
                "the SDE theory gets the order of magnitude on this network."
                if max(finite) < 10 and min(finite) > 0.1
                else "the SDE theory is off by more than a factor 10 on this network."
            )
            out.append(
                f"Observed escapes took {span} times the predicted iterations ({len(finite)} of "
                f"{len(ratios)} basin and optimizer pairs with exits): {verdict}"
            )
        if censored:
            bounds = [f"{what} (at least {r.low:.3g} times)" for what, r in ratios if what in censored]
            out.append(
                "Too few replicas left the basin within the step budget to estimate a mean exit for "
                + "; ".join(bounds)
                + ": real training stayed in those basins at least that many times the predicted iterations."
            )
    return out
