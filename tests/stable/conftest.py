"""Oracles shared by the stable-law tests."""

import pytest


def _zolotarev_tail_series(x, alpha, beta, kind):
    """Zolotarev's tail series of the standardized S1 law at x -> +inf (pdf or sf), in 40-digit arithmetic.

    f(x) ~ (1/pi) sum_k (-1)^(k+1) sigma^k Gamma(k alpha + 1) / k! sin(k alpha L) x^(-k alpha - 1), and the
    survival function is the term-wise integral (Gamma(k alpha) and x^(-k alpha)).
    """
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    a, b, x = mp.mpf(alpha), mp.mpf(beta), mp.mpf(x)
    al = mp.pi * a / 2 + mp.atan(b * mp.tan(mp.pi * a / 2))
    sigma = mp.sqrt(1 + (b * mp.tan(mp.pi * a / 2)) ** 2)
    extra = 1 if kind == "pdf" else 0
    terms = [
        (-1) ** (k + 1)
        * sigma**k
        * mp.gamma(k * a + extra)
        / mp.factorial(k)
        * mp.sin(k * al)
        * x ** (-k * a - extra)
        for k in range(1, 30)
    ]
    return float(mp.fsum(terms) / mp.pi)


@pytest.fixture
def tail_series():
    """The high-precision tail series, called as tail_series(x, alpha, beta, "pdf" | "sf")."""
    return _zolotarev_tail_series
