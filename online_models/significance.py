"""McNemar's test on paired outcomes, without scipy at run time.

Two models scored on the same events disagree on some of them: ``b`` events where the first
did better, ``c`` where the second did. Under "equally good" each disagreement is a fair coin,
so ``b ~ Binomial(b + c, 1/2)``.

- ``method="exact"``: the two-sided binomial test, ``p = min(1, 2 P(X <= min(b, c)))``, equal
  to ``scipy.stats.binomtest(b, b + c, 0.5).pvalue``. The binomial probabilities use Loader's
  saddle-point formula (Loader 2000, as in R's ``dbinom``), accurate to a few ulps, then the
  cdf is summed backwards by the ratio of consecutive terms: O(min(b, c)) numpy work.
- ``method="chi2"``: the continuity-corrected statistic ``(|b - c| - 1)^2 / (b + c)`` against
  a chi-square with one degree of freedom (Edwards 1948), O(1).
- ``method="auto"`` (the default): exact up to ``EXACT_LIMIT`` discordant pairs, chi-square
  beyond, where the two agree closely and the exact sum would cost more than it tells.

With real-valued rewards, "did better" means a strictly higher reward and the same test is the
sign test; ties and NaN (not scored) count for neither side.

>>> r = mcnemar(3, 12)
>>> r.method, round(r.p_value, 6)
('exact', 0.035156)
>>> discordant([1, 1, 0, 0], [1, 0, 1, 1])
(1, 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from online_models.errors import ModelError
from online_models.validate import integer

__all__ = ["EXACT_LIMIT", "McNemarResult", "mcnemar", "discordant", "binom_half_cdf"]

EXACT_LIMIT = 100_000
_METHODS = ("auto", "exact", "chi2")
# Stirling series coefficients of stirlerr(n) = ln n! - ln(sqrt(2 pi n) (n / e)^n)
_S = (1.0 / 12, 1.0 / 360, 1.0 / 1260, 1.0 / 1680, 1.0 / 1188)
_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class McNemarResult:
    """Outcome of :func:`mcnemar`.

    Attributes:
        statistic: ``min(b, c)`` for the exact test, the corrected chi-square otherwise.
        p_value: two-sided p-value.
        b: events where the first did better.
        c: events where the second did better.
        method: ``"exact"`` or ``"chi2"``.
    """

    statistic: float
    p_value: float
    b: int
    c: int
    method: str


def mcnemar(b: int, c: int, method: str = "auto") -> McNemarResult:
    """McNemar's test of ``b`` against ``c`` discordant pairs (see the module docstring).

    Args:
        b: number of events where the first did better, >= 0.
        c: number of events where the second did better, >= 0.
        method: ``"auto"``, ``"exact"`` or ``"chi2"``.

    Returns:
        The statistic and two-sided p-value (1 when ``b + c == 0``: no evidence).

    >>> mcnemar(10, 10).p_value
    1.0
    >>> round(mcnemar(150_000, 149_000).p_value, 4)
    0.0677
    """
    b, c = integer("mcnemar(b)", b), integer("mcnemar(c)", c)
    if method not in _METHODS:
        raise ModelError(f"mcnemar(method): expected one of {_METHODS}, got {method!r}")
    n = b + c
    if method == "chi2" or (method == "auto" and n > EXACT_LIMIT):
        stat = max(abs(b - c) - 1, 0) ** 2 / n if n else 0.0
        return McNemarResult(stat, math.erfc(math.sqrt(stat / 2.0)), b, c, "chi2")
    k = min(b, c)
    p = 1.0 if 2 * k == n else min(1.0, 2.0 * binom_half_cdf(k, n))
    return McNemarResult(float(k), p, b, c, "exact")


def discordant(
    first: Sequence[float] | np.ndarray, second: Sequence[float] | np.ndarray
) -> tuple[int, int]:
    """Discordant counts of paired outcomes: (first strictly better, second strictly better).

    Outcomes are 0/1 correctness or real rewards; NaN compares as neither better nor worse.
    """
    a, z = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != z.shape:
        raise ModelError(f"discordant: expected outcomes of equal shape, got {a.shape}, {z.shape}")
    return int(np.count_nonzero(a > z)), int(np.count_nonzero(z > a))


def binom_half_cdf(k: int, n: int) -> float:
    """``P(X <= k)`` for ``X ~ Binomial(n, 1/2)``, for ``0 <= k < n / 2``.

    >>> round(binom_half_cdf(1, 3), 12)  # (1 + 3) / 8
    0.5
    """
    if not 0 <= 2 * k < n:
        raise ModelError(f"binom_half_cdf: expected 0 <= k < n / 2, got k={k}, n={n}")
    x = np.arange(k, 0, -1, dtype=float)
    # P(X = x - 1) / P(X = x) = x / (n - x + 1) < 1: the terms below k, relative to P(X = k)
    tail = np.cumprod(x / (n - x + 1.0))
    return _binom_half_pmf(k, n) * (1.0 + float(tail.sum()))


def _binom_half_pmf(x: int, n: int) -> float:
    """``P(X = x)`` for ``X ~ Binomial(n, 1/2)`` by Loader's saddle-point expansion."""
    if x == 0 or x == n:
        return math.ldexp(1.0, -n)
    half = n / 2.0
    lc = _stirlerr(n) - _stirlerr(x) - _stirlerr(n - x) - _bd0(x, half) - _bd0(n - x, half)
    lf = math.log(2.0 * math.pi) + math.log(x) + math.log1p(-x / n)
    return math.exp(lc - 0.5 * lf)


def _stirlerr(n: int) -> float:
    """``ln n! - ln(sqrt(2 pi n) (n / e)^n)``, the error of Stirling's formula."""
    if n <= 15:
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - _LN_SQRT_2PI
    nn = float(n) * n
    s0, s1, s2, s3, s4 = _S
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


def _bd0(x: float, m: float) -> float:
    """``x ln(x / m) + m - x``, computed without cancellation when ``x`` is close to ``m``."""
    if abs(x - m) >= 0.1 * (x + m):
        return x * math.log(x / m) + m - x
    v = (x - m) / (x + m)
    s = (x - m) * v
    ej = 2.0 * x * v
    v2 = v * v
    j = 1
    while True:
        ej *= v2
        s1 = s + ej / (2 * j + 1)
        if s1 == s:
            return s1
        s = s1
        j += 1
