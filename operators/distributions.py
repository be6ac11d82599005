"""Null distributions of riverbed's drift tests, computed with numpy and math only.

scipy is the oracle of the tests, never a run-time dependency, so the p-values are computed
here the way ``scipy.stats`` computes them (scipy 1.17, BSD-3-Clause; the algorithms are from
the papers cited below):

- :func:`ks_2samp_pvalues` is the two-sided p-value of ``scipy.stats.ks_2samp`` with its
  default ``method="auto"``: exact when both samples have at most :data:`MAX_EXACT_N` values
  (the share of lattice paths that leave a band, Hodges 1958, with the recursion of Viehmann
  2021 that yields p rather than 1 - p; the reflection formula when the sizes are equal),
  otherwise (or when rounding puts the exact value outside [0, 1]) :func:`kstwo_sf` at
  ``n = round(n1 * n2 / (n1 + n2))``.
- :func:`kstwo_sf` is the survival function of the one-sample two-sided Kolmogorov-Smirnov
  statistic, ``scipy.stats.kstwo.sf``, choosing among Ruben-Gambino, Durbin's matrix (Marsaglia,
  Tsang and Wang 2003), Pomeranz (1974), Pelz-Good (1976) and twice the one-sided Smirnov
  tail (Birnbaum and Tingey 1951; :func:`smirnov_sf`) as Simard and L'Ecuyer (2011) advise.
- :func:`chi2_sf` is ``scipy.stats.chi2.sf``: the regularized upper incomplete gamma function,
  by its power series or its continued fraction.

An exact two-sample p-value depends only on the integers ``(n1, n2, h)`` (the statistic is
``h / lcm(n1, n2)``), so it is memoized (up to :data:`CACHE_SIZE` entries): a monitor testing
windows of the same sizes soon stops computing them. Statistics of several features with the
same sample sizes share one pass of the lattice recursion, yet each p-value is bit for bit what
it would be alone, so results never depend on the memo's state.

>>> stat, p = ks_2samp_pvalues([0.3, 0.05], 20, 20)
>>> stat.tolist(), p.round(6).tolist()
([0.3, 0.05], [0.335591, 1.0])
>>> round(chi2_sf(3.84, 1), 4)
0.05
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "CACHE_SIZE",
    "MAX_EXACT_N",
    "chi2_sf",
    "clear_memo",
    "ks_2samp_pvalues",
    "kstwo_sf",
    "smirnov_sf",
]

MAX_EXACT_N = 10_000
"""Largest sample size for which the two-sample p-value is exact (as in scipy's ``auto``)."""

CACHE_SIZE = 1 << 16
"""Exact p-values remembered; the memo is emptied when it is full."""

_MIN_LOG = -708.3964185322641  # log of the smallest normal double, as in cephes
_LOG_SPAN = 650.0  # largest log of the products formed in one block of the band recursion
_exact_memo: dict[tuple[int, int, int], float] = {}


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

    >>> ks_2samp_pvalues([1.0], 3, 3)
    (array([1.]), array([0.1]))
    """
    stats = np.array(d, dtype=np.float64, ndmin=1)
    m, n = float(max(n1, n2)), float(min(n1, n2))
    size = round(m * n / (m + n))
    if m > MAX_EXACT_N:
        return stats, np.array([kstwo_sf(x, size) for x in stats.tolist()])
    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    hs = np.round(stats * lcm).astype(np.int64)
    stats = hs / lcm
    p = _exact_sf(min(n1, n2), max(n1, n2), hs.tolist())
    for k in np.flatnonzero(~((p >= 0.0) & (p <= 1.0))).tolist():  # as scipy
        p[k] = kstwo_sf(float(stats[k]), size)
    return stats, p


def clear_memo() -> None:
    """Forget the memoized exact p-values (benchmarks use it to start cold)."""
    _exact_memo.clear()


def _exact_sf(a: int, b: int, hs: list[int]) -> np.ndarray:
    """P(D >= h / lcm(a, b)) under the null for samples of sizes a <= b, for each h."""
    wanted = set(hs)
    if len(_exact_memo) + len(wanted) > CACHE_SIZE:
        _exact_memo.clear()
    todo = sorted(h for h in wanted if (a, b, h) not in _exact_memo)
    if todo:
        if a == b:
            found = [_equal_sizes_sf(a, h) for h in todo]
        else:
            found = _band_exit_shares(a, b, todo)
        _exact_memo.update({(a, b, h): p for h, p in zip(todo, found, strict=True)})
    return np.array([_exact_memo[a, b, h] for h in hs])


def _equal_sizes_sf(n: int, h: int) -> float:
    """P(D >= h / n) for two samples of size n, by the reflection principle.

    P = 2 * sum_k (-1)^(k-1) C(2n, n - k h) / C(2n, n), evaluated as nested products of the
    ratios of consecutive terms to avoid cancellation.
    """
    if h == 0:
        return 1.0
    ks = np.arange(n // h + 1)[:, None] * h
    j = np.arange(h)[None, :]
    ratios = np.prod((n - ks - j) / (n + ks + j + 1.0), axis=1)
    p = 0.0
    for r in ratios[::-1].tolist():
        p = r * (1.0 - p)
    return 2.0 * p


def _band_exit_shares(a: int, b: int, hs: list[int]) -> list[float]:
    """Shares of the lattice paths from (0, 0) to (a, b) that leave the band |b i - a j| < h g.

    Column by column over i, ``E(i, j)`` is the share of the paths to (i, j) that have left
    the band: 1 outside it, and inside ``E(i, j) = w E(i-1, j) + (1 - w) E(i, j-1)`` with
    ``w = i / (i + j)``. Each h has a row of ``col``; rows above a band hold 1, rows below it
    are not read again. Along a column the recursion is first-order and is solved with
    cumulative products and sums (:func:`_solve_columns`). Several h go through a column
    together over the union of their bands, each row padded before its band with factors 1
    and terms 0, which leaves its values bit for bit what they would be alone: a p-value never
    depends on which others were computed with it.
    """
    g = math.gcd(a, b)
    ag, bg = a // g, b // g
    h = np.array(hs, dtype=np.int64)[:, None]
    cols = np.arange(a + 1)[None, :]
    los = np.maximum((bg * cols - h) // ag + 1, 0)  # the band's first and last row, by column
    his = np.minimum((bg * cols + h - 1) // ag, b)
    empty = np.any(los > his, axis=1)  # a column with no inside cell: every path leaves
    # R may grow by (1 + i / l) per row, most at the first: one block unless that overflows
    growth = (his - los + 1) * np.log1p(np.maximum(cols, 1) / np.maximum(los, 1))
    blocked = growth > _LOG_SPAN
    frows = np.arange(b + 1, dtype=np.float64)
    col = np.where(ag * frows < h, 0.0, 1.0)  # column 0: inside up to j < h / ag
    whole = ~(blocked | (los > his))
    all_whole, some_blocked = whole.all(axis=0).tolist(), (~whole).any(axis=0).tolist()
    ragged = ((los != los[:1]).any(axis=0) | (his != his[:1]).any(axis=0)).tolist()
    for i in range(1, a + 1):
        lo, hi = los[:, i], his[:, i]
        if all_whole[i]:
            _solve_columns(i, lo, hi, col, frows, ragged[i])
        elif whole[:, i].any():
            part = col[whole[:, i]]
            _solve_columns(i, lo[whole[:, i]], hi[whole[:, i]], part, frows, True)
            col[whole[:, i]] = part
        if some_blocked[i]:
            for k in np.flatnonzero(blocked[:, i] & (lo <= hi)).tolist():
                _solve_blocks(i, int(lo[k]), int(hi[k]), col[k], frows)
    return np.where(empty, 1.0, col[:, b]).tolist()


def _solve_columns(
    i: int, lo: np.ndarray, hi: np.ndarray, col: np.ndarray, rows: np.ndarray, ragged: bool
) -> None:
    """Overwrite ``col`` (column i - 1) with column i over rows ``lo..hi`` of each band.

    With ``R_j = prod_{lo < l <= j} (i + l) / l``: ``E_j R_j = E_(lo-1) lo / (lo + i) +
    sum_{lo <= k <= j} R_k w_k E(i-1, k)``, where E below the band is 1 (on the axis, lo = 0,
    its weight is 0). ``ragged``: the bands do not all start and end on the same rows.
    """
    first, last = int(lo.min()), int(hi.max())
    j = rows[first : last + 1]
    grown = j + i
    ratio = grown / np.maximum(j, 1.0)
    if ragged:
        ratio = np.where(j[None, :] <= lo[:, None], 1.0, ratio)
    else:
        ratio = np.broadcast_to(ratio, (len(lo), len(j))).copy()
        ratio[:, 0] = 1.0
    r = np.cumprod(ratio, axis=1)
    terms = r * (i / grown) * col[:, first : last + 1]
    if ragged:
        before = j[None, :] < lo[:, None]
        terms[before] = 0.0
    acc = np.cumsum(terms, axis=1)
    acc += (lo / (lo + i))[:, None]
    acc /= r
    if ragged:
        acc[j[None, :] > hi[:, None]] = 1.0  # above the band
        acc[before] = col[:, first : last + 1][before]
    col[:, first : last + 1] = acc


def _solve_blocks(i: int, lo: int, hi: int, col: np.ndarray, rows: np.ndarray) -> None:
    """The same for one band, in blocks over which R grows by at most ``exp(_LOG_SPAN)``."""
    size = max(1, int(_LOG_SPAN // math.log1p(i / max(lo, 1))))
    carry = 1.0  # E(i, lo - 1), below the band
    for start in range(lo, hi + 1, size):
        stop = min(start + size, hi + 1)
        j = rows[start:stop]
        grown = j + i
        r = grown / np.maximum(j, 1.0)
        r[0] = 1.0
        np.cumprod(r, out=r)
        acc = np.cumsum(r * (i / grown) * col[start:stop])
        acc += carry * start / (start + i)
        col[start:stop] = acc / r
        carry = float(col[stop - 1])


def kstwo_sf(x: float, n: int) -> float:
    """P(D_n >= x) for the two-sided one-sample K-S statistic of a sample of size n.

    >>> round(kstwo_sf(0.1, 100), 6)
    0.252693
    """
    if x >= 1.0:
        return 0.0
    if x <= 0.0:
        return 1.0
    t = n * x
    if t <= 1.0:  # Ruben-Gambino: 1/2n <= x <= 1/n
        if t <= 0.5:
            return 1.0
        return _clip(1.0 - math.exp(_log_factorial_ratio(n) + n * math.log(2.0 * t - 1.0)))
    if t >= n - 1:  # Ruben-Gambino: 1 - 1/n <= x
        return _clip(2.0 * (1.0 - x) ** n)
    if x >= 0.5:
        return _clip(2.0 * smirnov_sf(n, x))
    nxx = t * x
    if n <= 140:
        if nxx <= 0.754693:
            return _clip(1.0 - _durbin_cdf(n, x))
        if nxx <= 4.0:
            return _clip(1.0 - _pomeranz_cdf(n, x))
        return _clip(2.0 * smirnov_sf(n, x))
    if nxx >= 370.0:
        return 0.0
    if nxx >= 2.2:
        return _clip(2.0 * smirnov_sf(n, x))
    if n <= 100_000 and n * x**1.5 <= 1.4:
        return _clip(1.0 - _durbin_cdf(n, x))
    return _clip(1.0 - _pelz_good_cdf(n, x))


def _clip(p: float) -> float:
    return min(max(p, 0.0), 1.0)


def _log_factorial_ratio(n: int) -> float:
    """log(n! / n^n): an exact product for n <= 140, Stirling's series above."""
    if n <= 140:
        return math.log(math.factorial(n) / n**n)
    return (
        0.5 * math.log(2.0 * math.pi * n)
        - n
        + (1 / 12 - (1 / 360 - 1 / (1260 * n * n)) / (n * n)) / n
    )


def smirnov_sf(n: int, x: float) -> float:
    """P(D+_n >= x), the one-sided K-S tail, by the Birnbaum-Tingey sum.

    ``x * sum_{v=0}^{floor(n (1 - x))} C(n, v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v)``: all terms
    are positive, so it is evaluated in logs without cancellation. Like ``scipy.special.smirnov``
    it falls back to ``exp(-(6 n x + 1)^2 / 18 n)`` above a million values.

    >>> round(smirnov_sf(10, 0.3), 6)
    0.135464
    """
    if n == 1:
        return 1.0 - x
    if x <= 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    nx = n * x
    nxfl = math.floor(nx)
    if nxfl == 0 or (nxfl == 1 and nx == 1.0):  # x <= 1/n
        return 1.0 - x * (1.0 + x) ** (n - 1)
    if -2.0 * n * x * x < _MIN_LOG:
        return 0.0
    if nxfl >= n - 1:
        return (1.0 - x) ** n
    if n > 1_000_000:
        logp = -((6.0 * nx + 1.0) ** 2) / 18.0 / n
        return math.exp(logp) if logp < -math.log(2.0) else 1.0 + math.expm1(logp)
    v = np.arange(1.0, n - nxfl)
    p = (nx + v) / n  # the sum's terms are binomial probabilities over p: C(n,v) p^v q^(n-v) / p
    terms = np.exp(_log_binom_pmf(v, n, nx + v, n - v - nx)) / p
    return math.exp(n * math.log1p(-x)) + x * float(np.sum(terms))


def _log_binom_pmf(k: np.ndarray, n: int, np_: np.ndarray, nq: np.ndarray) -> np.ndarray:
    """log C(n, k) p^k q^(n-k) for 0 < k < n, from n p and n q, by Loader's saddle point.

    Stirling's remainders and the deviances ``bd0`` keep the error relative to the result
    instead of to ``n log n``, which matters once n reaches tens of thousands.
    """
    return (
        _stirling_remainder(np.array([float(n)]))
        - _stirling_remainder(k)
        - _stirling_remainder(n - k)
        - _deviance(k, np_)
        - _deviance(n - k, nq)
        + 0.5 * np.log(n / (2.0 * math.pi * k * (n - k)))
    )


_SMALL_REMAINDERS = np.array(
    [0.0]
    + [
        math.lgamma(k + 1.0) - (k + 0.5) * math.log(k) + k - 0.5 * math.log(2 * math.pi)
        for k in range(1, 16)
    ]
)


def _stirling_remainder(k: np.ndarray) -> np.ndarray:
    """log(k!) - log(sqrt(2 pi k) (k/e)^k) for whole numbers k >= 1."""
    kk = k * k
    series = (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * kk)) / kk) / kk) / kk) / k
    small = _SMALL_REMAINDERS[np.minimum(k, 15).astype(np.int64)]
    return np.where(k > 15, series, small)


def _deviance(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """x log(x / m) + m - x, by its series where x is close to m (Loader's bd0)."""
    d = x - m
    direct = x * np.log(x / m) + m - x
    v = d / (x + m)
    series = d * v
    ej = 2.0 * x * v
    for j in range(1, 40):
        ej = ej * v * v
        series = series + ej / (2 * j + 1)
    return np.where(np.abs(d) < 0.1 * (x + m), series, direct)


def _durbin_cdf(n: int, x: float) -> float:
    """P(D_n <= x) by Durbin's matrix, computed as Marsaglia, Tsang and Wang (2003) do."""
    k = math.ceil(n * x)
    h = k - n * x
    m = 2 * k - 1
    idx = np.arange(m)
    inv_fact = np.array([1.0 / math.factorial(i) for i in range(m + 1)])
    lag = idx[:, None] - idx[None, :] + 1
    mat = np.where(lag >= 0, inv_fact[np.clip(lag, 0, m)], 0.0)
    edge = (1.0 - h ** (idx + 1.0)) * inv_fact[idx + 1]
    mat[:, 0] = edge
    mat[-1, :] = edge[::-1]
    mat[-1, 0] = (1.0 - 2.0 * h**m + max(0.0, 2.0 * h - 1.0) ** m) * inv_fact[m]
    power, expo = _matrix_power_scaled(mat, n)
    corner = power[k - 1, k - 1]
    if corner <= 0.0:
        return 0.0
    if n <= 140:
        return _ldexp_times(corner, expo, math.factorial(n) / n**n)
    return math.exp(math.log(corner) + expo * math.log(2.0) + _log_factorial_ratio(n))


def _ldexp_times(value: float, expo: int, factor: float) -> float:
    """``value * 2 ** expo * factor`` without overflow or underflow on the way."""
    mantissa, factor_expo = math.frexp(factor)
    return math.ldexp(value * mantissa, expo + factor_expo)


def _matrix_power_scaled(mat: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """``(P, e)`` with ``mat ** n = P * 2 ** e``, rescaling as it squares to avoid overflow."""
    result, result_exp = np.eye(mat.shape[0]), 0
    base, base_exp = mat, 0
    while n:
        if n & 1:
            result = result @ base
            result_exp += base_exp
            result, result_exp = _rescale(result, result_exp)
        n >>= 1
        if n:
            base, base_exp = _rescale(base @ base, 2 * base_exp)
    return result, result_exp


def _rescale(mat: np.ndarray, expo: int) -> tuple[np.ndarray, int]:
    top = float(np.max(np.abs(mat)))
    if top == 0.0:
        return mat, expo
    shift = math.frexp(top)[1]
    return np.ldexp(mat, -shift), expo + shift


def _pomeranz_cdf(n: int, x: float) -> float:
    """P(D_n <= x) by the Pomeranz (1974) recursion, as laid out by Simard and L'Ecuyer."""
    t = n * x
    whole = math.floor(t)
    frac = t - whole
    g = min(frac, 1.0 - frac)
    up = 1 if frac > 0 else 0
    half = 1 if frac > 0.5 else 0
    width = 2 * (whole + 1)
    orders = np.arange(width)
    inv_fact = np.array([1.0 / math.factorial(i) for i in range(width)])
    kernels = {  # (step / n)^m / m! for the three step lengths between the breakpoints
        name: (step / n) ** orders * inv_fact
        for name, step in (("g", g), ("2g", 2.0 * g), ("1-2g", 1.0 - 2.0 * g))
    }
    row = np.zeros(width)
    row[0] = 1.0
    lo, _ = _pomeranz_band(0, n, whole, up, half)
    expo = 0
    for i in range(1, 2 * n + 2):
        prev_lo = lo
        lo, hi = _pomeranz_band(i, n, whole, up, half)
        kernel = kernels["g" if i in (1, 2 * n + 1) else ("2g" if i % 2 else "1-2g")]
        span = hi - prev_lo + 1
        new = np.zeros(width)
        if span > 0:
            conv = np.convolve(row[:span], kernel[:span])
            new[: hi - lo + 1] = conv[lo - prev_lo : hi - prev_lo + 1]
            top = float(np.max(new))
            if 0.0 < top < 2.0**-128:
                new *= 2.0**128
                expo -= 128
        row = new
    return _ldexp_times(float(row[n - lo]), expo, float(math.factorial(n)))


def _pomeranz_band(i: int, n: int, whole: int, up: int, half: int) -> tuple[int, int]:
    """First and last column of row i that can be non-zero in the Pomeranz recursion."""
    if i == 0:
        lo, hi = -whole - up - 1, whole + up - 1
    else:
        q, odd_i = divmod(i + 1, 2)
        if odd_i == 0 and q == n + 1:  # the last row
            lo, hi = n - whole - up - 1, n + whole + up - 1
        elif odd_i == 0:
            lo, hi = q - whole - half - 2, q + whole + up - 2
        else:
            lo, hi = q - whole - 2, q + whole + half - 1
    return max(lo + 2, 0), min(hi, n)


def _pelz_good_cdf(n: int, x: float) -> float:
    """P(D_n <= x) by the Pelz-Good (1976) expansion in powers of 1/sqrt(n)."""
    z = math.sqrt(n) * x
    z2 = z * z
    if -(math.pi**2) / 8.0 / z2 < -708.0:
        return 0.0
    pi2, pi4, pi6 = math.pi**2, math.pi**4, math.pi**6
    k = np.arange(1, math.ceil(16.0 * z / math.pi) + 1, dtype=np.float64)
    m2 = (2.0 * k - 1.0) ** 2
    q_odd = np.exp(-m2 * pi2 / 8.0 / z2)  # the theta-function terms in q^((2k-1)^2)
    q_all = np.exp(-(k**2) * pi2 / 2.0 / z2)
    c1 = pi2 * m2 / 4.0 - z2
    c2 = (
        6 * z2**3
        + 2 * z2**2
        + (2 * z2**2 - 5 * z2) * pi2 * m2 / 4
        + pi4 * (1 - 2 * z2) * m2**2 / 16
    )
    c3 = (
        -30 * z2**3
        - 90 * z2**4
        + pi2 * (135 * z2**2 - 96 * z2**3) * m2 / 4
        + pi4 * (212 * z2**2 - 60 * z2) * m2**2 / 16
        + pi6 * (5 - 30 * z2) * m2**3 / 64
    )
    root = math.sqrt(2.0 * math.pi)
    k0 = root / z * np.sum(q_odd)
    k1 = root / (6.0 * z**4) * np.sum(c1 * q_odd)
    k2 = root / (72.0 * z**7) * np.sum(c2 * q_odd) - pi2 * root / (36.0 * z**3) * np.sum(
        k**2 * q_all
    )
    k3 = root / (6480.0 * z**10) * np.sum(c3 * q_odd) + pi2 * root / (216.0 * z**6) * np.sum(
        (3.0 * z2 - pi2 * k**2) * k**2 * q_all
    )
    return float(k0 + k1 / math.sqrt(n) + k2 / n + k3 / n**1.5)


def chi2_sf(x: float, dof: float) -> float:
    """P(X >= x) for a chi-square variable with ``dof`` degrees of freedom.

    >>> round(chi2_sf(10.0, 4), 6)
    0.040428
    """
    return _gamma_q(dof / 2.0, x / 2.0)


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a)."""
    if x <= 0.0:
        return 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:  # power series for P, which is then at most about 0.7
        term = total = 1.0 / a
        ap = a
        while abs(term) > abs(total) * 1e-17:
            ap += 1.0
            term *= x / ap
            total += term
        return 1.0 - total * math.exp(log_front)
    # continued fraction for Q (modified Lentz)
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    frac = d
    for k in range(1, 100_000):
        an = -k * (k - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        frac *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(log_front) * frac
