"""Two-sample tests for feature drift: statistics vectorized over features with numpy,
p-values from scipy.

Samples are matrices whose columns are features (reference and current may have different
numbers of rows); NaN marks a missing value and is ignored, so each feature is tested on its
own valid values.

- :func:`ks_2samp`: Kolmogorov-Smirnov statistic and p-value per column, equal to
  ``scipy.stats.ks_2samp(ref, cur)`` (``method="auto"``) on each column's valid values. Each
  sample is sorted once; the two are then merged per column by a stable sort of two sorted
  runs, which is a linear merge, and the CDFs are compared in integers.
- :func:`psi_numeric`: Population Stability Index over bins cut at the reference's quantiles;
  :func:`psi` the same from counts (e.g. category frequencies from :func:`contingency`).
- :func:`chi2_homogeneity`: chi-square test of homogeneity of a contingency table, equal to
  ``scipy.stats.chi2_contingency`` (Yates' correction on 2x2 tables by default, as scipy).
- :func:`ks_2samp_pvalues`: the p-values of K-S statistics for samples of given sizes, as
  ``scipy.stats.ks_2samp`` computes them from the statistic.

The p-values are scipy's own: ``scipy.special.chdtrc`` for chi-square, ``scipy.stats.kstwo``
for large K-S samples and, for samples of at most :data:`MAX_EXACT_N` values, the exact
two-sample distribution that ``ks_2samp`` uses (scipy has no public function for it, so
:func:`ks_2samp_pvalues` calls ``ks_2samp``'s own helper; ``tests/operators/test_stat_tests.py``
checks every p-value against ``ks_2samp`` itself). An exact p-value depends only on the
integers ``(n1, n2, h)`` (the statistic is ``h / lcm(n1, n2)``), so it is memoized (up to
:data:`CACHE_SIZE` entries): a monitor testing windows of the same sizes soon stops computing
them.
- :func:`correct`: Bonferroni or Benjamini-Hochberg correction of a family of p-values.

>>> rng = np.random.default_rng(0)
>>> ref, cur = rng.normal(size=(200, 2)), rng.normal(size=(300, 2)) + [0.0, 1.0]
>>> stat, p = ks_2samp(ref, cur)
>>> (p < 1e-6).tolist(), correct(p, "bonferroni", 0.01)[0].tolist()
([False, True], [False, True])
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
from scipy import special, stats
from scipy.stats import _stats_py

from operators.errors import OperatorError

__all__ = [
    "CACHE_SIZE",
    "CORRECTIONS",
    "MAX_EXACT_N",
    "PSI_EPSILON",
    "chi2_homogeneity",
    "clear_memo",
    "contingency",
    "correct",
    "is_missing",
    "ks_2samp",
    "ks_2samp_pvalues",
    "psi",
    "psi_numeric",
]

MAX_EXACT_N = 10_000
"""Largest sample size for which the two-sample p-value is exact (scipy's ``method="auto"``)."""

CACHE_SIZE = 1 << 16
"""Exact p-values remembered; the memo is emptied when it is full."""

_exact_memo: dict[tuple[int, int, int], float] = {}

PSI_EPSILON = 1e-4
"""Proportion given to an empty bin (in either sample) so that PSI stays finite."""

CORRECTIONS = ("bonferroni", "bh")
"""Multiple-testing corrections known to :func:`correct`."""


def ks_2samp(
    reference: np.ndarray, current: np.ndarray, *, presorted: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided two-sample K-S test of each column of ``reference`` against ``current``.

    Args:
        reference: ``(n1, d)`` values (a 1-D array is one feature).
        current: ``(n2, d)`` values.
        presorted: both are already sorted along axis 0 with NaN last (``np.sort`` order).

    Returns:
        ``(statistic, p_value)``, each of shape ``(d,)``; NaN where a column has no valid value
        in one of the samples.
    """
    ref, cur = np.atleast_1d(reference).T, np.atleast_1d(current).T  # (d, n): rows are features
    ref, cur = (ref[None, :], cur[None, :]) if ref.ndim == 1 else (ref, cur)
    if not presorted:
        ref, cur = np.sort(ref, axis=1), np.sort(cur, axis=1)
    n1 = np.count_nonzero(~np.isnan(ref), axis=1)[:, None]
    n2 = np.count_nonzero(~np.isnan(cur), axis=1)[:, None]
    pooled = np.concatenate([ref, cur], axis=1)
    order = np.argsort(pooled, axis=1, kind="stable")  # merges the two sorted runs
    from_ref = np.cumsum(order < ref.shape[1], axis=1)
    seen = np.arange(1, pooled.shape[1] + 1)
    # n1 n2 |F1 - F2| after each value, in integers: |c1 n2 - (seen - c1) n1|
    gap = np.abs(from_ref * (n1 + n2) - seen * n1)
    # the CDFs are compared after the last of each run of equal values, among the valid ones
    values = np.take_along_axis(pooled, order, axis=1)
    last = np.ones(values.shape, dtype=bool)
    np.not_equal(values[:, :-1], values[:, 1:], out=last[:, :-1])
    last &= seen <= n1 + n2
    n1, n2 = n1[:, 0], n2[:, 0]
    ok = (n1 > 0) & (n2 > 0)
    top = np.max(gap, axis=1, where=last, initial=0)
    stat = np.where(ok, top / np.maximum(n1 * n2, 1), np.nan)
    p = np.full(stat.shape, np.nan)
    for a, b in sorted({(int(x), int(y)) for x, y in zip(n1[ok], n2[ok], strict=True)}):
        cols = ok & (n1 == a) & (n2 == b)
        stat[cols], p[cols] = ks_2samp_pvalues(stat[cols], a, b)
    return stat, p


def ks_2samp_pvalues(
    d: Sequence[float] | np.ndarray, n1: int, n2: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p-values of two-sample K-S statistics ``d``, all for samples of sizes n1, n2.

    Args:
        d: the statistics, largest distances between two empirical CDFs.
        n1: size of the first samples (at least 1).
        n2: size of the second samples (at least 1).

    Returns:
        ``(statistics, p_values)``; in the exact regime the statistics are snapped to the
        nearest multiple of ``1 / lcm(n1, n2)``, as scipy does.

    >>> stat, p = ks_2samp_pvalues([1.0, 0.3, 0.05], 20, 20)
    >>> stat.tolist(), p.round(6).tolist()
    ([1.0, 0.3, 0.05], [0.0, 0.335591, 1.0])
    """
    stats_ = np.array(d, dtype=np.float64, ndmin=1)
    m, n = float(max(n1, n2)), float(min(n1, n2))
    size = round(m * n / (m + n))
    if m > MAX_EXACT_N:
        return stats_, np.clip(stats.kstwo.sf(stats_, size), 0.0, 1.0)
    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    hs = np.round(stats_ * lcm).astype(np.int64)
    stats_ = hs / lcm
    if len(_exact_memo) + len(hs) > CACHE_SIZE:
        _exact_memo.clear()
    p = np.array([_exact_sf(n1, n2, g, int(h), size) for h in hs.tolist()])
    return stats_, p


def _exact_sf(n1: int, n2: int, g: int, h: int, size: int) -> float:
    """P(D >= h / lcm(n1, n2)) as ``scipy.stats.ks_2samp`` gives it (memoized): exact, or its
    asymptotic fallback where the exact computation fails."""
    key = (n1, n2, h)
    p = _exact_memo.get(key)
    if p is None:
        d = h / ((n1 // g) * n2)
        exact, _, p = _stats_py._attempt_exact_2kssamp(n1, n2, g, d, "two-sided")
        if not exact:
            p = stats.kstwo.sf(d, size)
        p = _exact_memo[key] = float(np.clip(p, 0.0, 1.0))
    return p


def clear_memo() -> None:
    """Forget the memoized exact p-values (benchmarks use it to start cold)."""
    _exact_memo.clear()


def psi(
    reference_counts: np.ndarray, current_counts: np.ndarray, epsilon: float = PSI_EPSILON
) -> np.ndarray:
    """PSI from counts per bin (axis 0): ``sum((q - p) * log(q / p))`` of the proportions.

    Proportions below ``epsilon`` (empty bins) are raised to it; they are not renormalized.

    >>> float(psi(np.array([50, 50]), np.array([50, 50])))
    0.0
    """
    p = np.maximum(reference_counts / np.sum(reference_counts, axis=0), epsilon)
    q = np.maximum(current_counts / np.sum(current_counts, axis=0), epsilon)
    return np.asarray(np.sum((q - p) * np.log(q / p), axis=0))


def psi_numeric(
    reference: np.ndarray, current: np.ndarray, bins: int = 10, epsilon: float = PSI_EPSILON
) -> np.ndarray:
    """PSI per column over ``bins`` bins cut at the reference's quantiles.

    The cut points are ``np.nanquantile(reference, k / bins)`` for k = 1..bins-1 (numpy's
    linear interpolation); bin k holds ``cut[k-1] <= x < cut[k]``. Repeated cut points make
    empty bins in both samples, which add nothing. NaN where a column has no valid value in
    one of the samples.
    """
    ref, cur = np.atleast_1d(reference), np.atleast_1d(current)
    ref, cur = (ref[:, None], cur[:, None]) if ref.ndim == 1 else (ref, cur)
    empty = np.all(np.isnan(ref), axis=0) | np.all(np.isnan(cur), axis=0)
    ref, cur = np.where(empty, 0.0, ref), np.where(empty, 0.0, cur)
    cuts = np.nanquantile(ref, np.arange(1, bins) / bins, axis=0)
    out = psi(_bin_counts(ref, cuts), _bin_counts(cur, cuts), epsilon)
    out[empty] = np.nan
    return out


def _bin_counts(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """``(bins, d)`` counts of the valid values of each column between consecutive cuts."""
    at_or_above = np.count_nonzero(x[None, :, :] >= cuts[:, None, :], axis=1)  # NaN: never
    valid = np.count_nonzero(~np.isnan(x), axis=0)
    edges = np.concatenate([valid[None, :], at_or_above, np.zeros((1, x.shape[1]), np.int64)])
    return edges[:-1] - edges[1:]


def is_missing(value: Any) -> bool:
    """A missing category: None or a float NaN."""
    return value is None or (isinstance(value, float) and value != value)


def contingency(
    reference: Iterable[Hashable], current: Iterable[Hashable]
) -> tuple[list[Hashable], np.ndarray]:
    """Categories seen in either sample (in order of first appearance) and their ``(2, k)`` counts.

    >>> contingency(["a", "b", "a", None], ["b", "c"])
    (['a', 'b', 'c'], array([[2, 1, 0],
           [0, 1, 1]]))
    """
    index: dict[Hashable, int] = {}
    rows: list[list[int]] = []
    for sample in (reference, current):
        codes = [index.setdefault(v, len(index)) for v in sample if not is_missing(v)]
        rows.append(codes)
    table = np.zeros((2, len(index)), dtype=np.int64)
    for r, codes in enumerate(rows):
        table[r] = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(index))
    return list(index), table


def chi2_homogeneity(table: np.ndarray, correction: bool = True) -> tuple[float, float, int]:
    """Pearson's chi-square test of homogeneity of the rows of a contingency table.

    Equals ``scipy.stats.chi2_contingency(table, correction)`` once the categories seen in no
    row are dropped (scipy refuses them): with one degree of freedom and ``correction``, each
    observed count moves half a unit (at most its distance) towards its expected count.

    Returns:
        ``(statistic, p_value, dof)``; ``(nan, nan, 0)`` if a row is empty.

    >>> chi2_homogeneity(np.array([[10, 20, 30], [30, 20, 10]]))[:2]
    (20.0, 4.539992976248486e-05)
    """
    observed = np.asarray(table, dtype=np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    rows = observed.sum(axis=1, keepdims=True)
    if observed.size == 0 or np.any(rows == 0):
        return float("nan"), float("nan"), 0
    expected = rows * observed.sum(axis=0, keepdims=True) / observed.sum()
    dof = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    if dof == 0:
        return 0.0, 1.0, 0
    if dof == 1 and correction:
        diff = expected - observed
        observed = observed + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return stat, float(special.chdtrc(dof, stat)), dof


def correct(
    pvalues: Sequence[float] | np.ndarray, method: str = "bh", alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Multiple-testing correction of one family of p-values.

    Args:
        pvalues: the family; NaN entries (tests not run) are left out of it.
        method: ``"bonferroni"`` (controls the family-wise error rate) or ``"bh"``
            (Benjamini-Hochberg, controls the false discovery rate).
        alpha: the level.

    Returns:
        ``(rejected, adjusted)``: a boolean mask (adjusted p-value <= alpha) and the adjusted
        p-values (NaN where the input is NaN).

    >>> rejected, adjusted = correct([0.01, 0.02, 0.03, 0.5], "bh", 0.05)
    >>> rejected.tolist(), adjusted.round(3).tolist()
    ([True, True, True, False], [0.04, 0.04, 0.04, 0.5])
    """
    if method not in CORRECTIONS:
        raise OperatorError(f"correct: method must be one of {CORRECTIONS}, got {method!r}")
    p = np.array(pvalues, dtype=np.float64, ndmin=1)
    adjusted = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    family = p[valid]
    m = family.size
    if method == "bonferroni":
        adjusted[valid] = np.minimum(family * m, 1.0)
    elif m:
        order = np.argsort(family)
        scaled = family[order] * (m / np.arange(1, m + 1))
        scaled = np.minimum.accumulate(scaled[::-1])[::-1]
        adj = np.empty(m)
        adj[order] = np.clip(scaled, 0.0, 1.0)
        adjusted[valid] = adj
    return np.where(valid, adjusted <= alpha, False), adjusted
