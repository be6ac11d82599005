"""McNemar's test against scipy, which the module itself does not use."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from online_models.errors import ModelError
from online_models.significance import (
    EXACT_LIMIT,
    binom_half_cdf,
    discordant,
    mcnemar,
)


def cases(seed: int, count: int) -> list[tuple[int, int]]:
    """Random (b, c): lopsided ones, balanced ones (p near 1), small and large totals."""
    rng = np.random.default_rng(seed)
    out = [(0, 1), (1, 0), (0, 25), (1, 1), (3, 12), (12, 3), (0, 2_000), (5, 6)]
    for _ in range(count):
        n = int(
            rng.choice([rng.integers(1, 60), rng.integers(60, 3_000), rng.integers(3_000, 60_000)])
        )
        if rng.random() < 0.5:
            b = int(rng.integers(0, n + 1))
        else:
            b = int(np.clip(round(n / 2 + rng.normal(0, 2) * np.sqrt(n) / 2), 0, n))
        out.append((b, n - b))
    return out


def test_exact_p_value_equals_scipy_binomtest():
    for b, c in cases(0, 1_000):
        ours = mcnemar(b, c, method="exact")
        expected = stats.binomtest(b, b + c, 0.5).pvalue
        assert abs(ours.p_value - expected) <= 1e-12, (b, c, ours.p_value, expected)
        assert (ours.b, ours.c, ours.method, ours.statistic) == (b, c, "exact", min(b, c))


def test_chi2_p_value_equals_scipy_chi2_with_continuity_correction():
    for b, c in cases(1, 200):
        ours = mcnemar(b, c, method="chi2")
        statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
        assert ours.statistic == pytest.approx(statistic, rel=1e-12)
        assert abs(ours.p_value - stats.chi2.sf(statistic, df=1)) <= 1e-12, (b, c)


def test_binomial_cdf_in_the_far_tail_keeps_relative_accuracy():
    for k, n in [(0, 1_000), (3, 1_000), (10, 400), (700, 3_000), (0, 1_060)]:
        ours, expected = binom_half_cdf(k, n), stats.binom.cdf(k, n, 0.5)
        assert expected > 0.0
        assert abs(ours - expected) <= 1e-12 * expected, (k, n, ours, expected)


def test_auto_switches_to_chi2_above_the_limit_and_agrees_there():
    n = EXACT_LIMIT + 2
    b = n // 2 - 200
    auto, exact = mcnemar(b, n - b), mcnemar(b, n - b, method="exact")
    assert auto.method == "chi2" and mcnemar(10, 30).method == "exact"
    assert auto.p_value == pytest.approx(exact.p_value, rel=1e-3)


def test_no_discordant_pairs_means_no_evidence():
    assert mcnemar(0, 0).p_value == 1.0
    assert mcnemar(0, 0, method="chi2").p_value == 1.0


def test_discordant_counts_strict_wins_and_ignores_ties_and_nan():
    first = np.array([1, 1, 0, 0, 0.5, np.nan, 1.0])
    second = np.array([1, 0, 1, 1, 0.2, 1.0, np.nan])
    assert discordant(first, second) == (2, 2)
    assert discordant([True, False], [False, False]) == (1, 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ModelError, match="mcnemar\\(b\\)"):
        mcnemar(-1, 3)
    with pytest.raises(ModelError, match="mcnemar\\(c\\)"):
        mcnemar(1, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="mcnemar\\(method\\)"):
        mcnemar(1, 2, method="normal")
    with pytest.raises(ModelError, match="discordant"):
        discordant([1, 0], [1])
    with pytest.raises(ModelError, match="binom_half_cdf"):
        binom_half_cdf(5, 10)
