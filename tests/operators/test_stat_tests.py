"""The drift tests against scipy, the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from operators import stat_tests
from operators.errors import OperatorError
from operators.stat_tests import (
    chi2_homogeneity,
    clear_memo,
    contingency,
    correct,
    ks_2samp,
    ks_2samp_pvalues,
    psi,
    psi_numeric,
)

RTOL = 1e-9


def assert_close(ours: np.ndarray | float, ref: np.ndarray | float) -> None:
    """Equal to a relative 1e-9 (values below 1e-300 count as zero)."""
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-300)


def sample_pair(rng: np.random.Generator, n1: int, n2: int, d: int) -> tuple[np.ndarray, ...]:
    """Two (n, d) samples: some columns shifted, some with ties, some NaNs."""
    shifts = rng.choice([0.0, 0.0, 0.1, 0.3, 1.0], size=d)
    a = rng.normal(size=(n1, d))
    b = rng.normal(size=(n2, d)) + shifts
    ties = rng.random(d) < 0.4
    a[:, ties], b[:, ties] = np.round(a[:, ties], 1), np.round(b[:, ties], 1)
    a[rng.random(a.shape) < 0.05] = np.nan
    b[rng.random(b.shape) < 0.05] = np.nan
    return a, b


def check_ks_against_scipy(a: np.ndarray, b: np.ndarray) -> int:
    """Compare every column with scipy.stats.ks_2samp on its valid values; count them."""
    a_before, b_before = a.copy(), b.copy()
    stat, p = ks_2samp(a, b)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)
    checked = 0
    for f in range(a.shape[1]):
        x, y = a[:, f][~np.isnan(a[:, f])], b[:, f][~np.isnan(b[:, f])]
        if x.size == 0 or y.size == 0:
            assert np.isnan(stat[f]) and np.isnan(p[f])
            continue
        ref = stats.ks_2samp(x, y)
        assert_close(stat[f], ref.statistic)
        assert_close(p[f], ref.pvalue)
        assert 0.0 <= p[f] <= 1.0
        checked += 1
    return checked


def test_ks_matches_scipy_on_small_windows_exact_method() -> None:
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(120):
        n1, n2 = (int(n) for n in rng.integers(1, 250, size=2))
        checked += check_ks_against_scipy(*sample_pair(rng, n1, n2, 4))
    assert checked > 400


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")
def test_ks_matches_scipy_on_equal_sizes_and_presorted_input() -> None:
    # n = 5, d = 0.2: the exact sum rounds to 1 + 2e-16, so scipy falls back to asymp.
    rng = np.random.default_rng(2)
    for n in (5, 37, 1000):
        a, b = rng.normal(size=(n, 6)), rng.normal(size=(n, 6)) + np.linspace(0, 0.5, 6)
        check_ks_against_scipy(a, b)
        stat, p = ks_2samp(np.sort(a, axis=0), np.sort(b, axis=0), presorted=True)
        np.testing.assert_array_equal((stat, p), ks_2samp(a, b))


def test_ks_matches_scipy_on_large_exact_windows() -> None:
    rng = np.random.default_rng(3)
    for n1, n2 in ((10_000, 10_000), (3_000, 7_000), (999, 1000), (4_000, 6_000)):
        a, b = rng.normal(size=(n1, 3)), rng.normal(size=(n2, 3)) + [0.0, 0.03, 0.1]
        assert check_ks_against_scipy(a, b) == 3


def test_ks_matches_scipy_in_the_asymptotic_regime() -> None:
    rng = np.random.default_rng(4)
    sizes = [(20_000, 15_000), (10_001, 60), (12_000, 9), (50_000, 130), (30_000, 400)]
    for n1, n2 in sizes:
        a = rng.normal(size=(n1, 4))
        b = rng.normal(size=(n2, 4)) + [0.0, 0.05, 0.3, 1.5]
        assert check_ks_against_scipy(a, b) == 4


def test_ks_ties_identical_and_disjoint_samples() -> None:
    same = np.ones((10, 1))
    stat, p = ks_2samp(same, same)
    assert (stat[0], p[0]) == (0.0, 1.0)
    ints = np.random.default_rng(5).integers(0, 3, size=(300, 2)).astype(float)
    check_ks_against_scipy(ints[:120], ints[120:] + [0.0, 1.0])
    check_ks_against_scipy(np.arange(20.0)[:, None], np.arange(20.0)[:, None] + 100.0)


def test_ks_on_an_all_nan_feature_is_nan_and_leaves_others_alone() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    b[:, 1] = np.nan
    stat, p = ks_2samp(a, b)
    assert np.isnan(stat[1]) and np.isnan(p[1])
    assert check_ks_against_scipy(a, b) == 2


def test_ks_2samp_pvalues_snaps_the_statistic_like_scipy() -> None:
    stat, p = ks_2samp_pvalues([0.30000000000000004, 0.0], 10, 20)
    assert stat.tolist() == [0.3, 0.0] and p[1] == 1.0


def test_psi_numeric_equals_a_direct_computation() -> None:
    rng = np.random.default_rng(9)
    ref = rng.normal(size=(500, 4))
    cur = rng.normal(size=(300, 4)) * [1.0, 1.5, 1.0, 1.0] + [0.0, 0.0, 0.7, 0.0]
    ref[:, 3] = np.round(ref[:, 3])  # repeated cut points
    cur[:, 3] = np.round(cur[:, 3])
    ref[rng.random(ref.shape) < 0.1] = np.nan
    for bins, eps in ((10, 1e-4), (5, 1e-3)):
        ours = psi_numeric(ref, cur, bins, eps)
        for f in range(4):
            x, y = ref[:, f][~np.isnan(ref[:, f])], cur[:, f]
            cuts = np.quantile(x, np.arange(1, bins) / bins)
            p = np.bincount(np.searchsorted(cuts, x, side="right"), minlength=bins) / x.size
            q = np.bincount(np.searchsorted(cuts, y, side="right"), minlength=bins) / y.size
            p, q = np.maximum(p, eps), np.maximum(q, eps)
            assert ours[f] == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-12)
    assert psi_numeric(ref, cur)[0] < 0.1 < psi_numeric(ref, cur)[2]


def test_psi_of_an_empty_feature_is_nan() -> None:
    ref, cur = np.ones((5, 2)), np.full((5, 2), np.nan)
    cur[:, 0] = 1.0
    assert psi_numeric(ref, cur).tolist()[0] == 0.0 and np.isnan(psi_numeric(ref, cur)[1])


def test_psi_and_contingency_on_categories() -> None:
    ref = ["a"] * 50 + ["b"] * 30 + ["c"] * 20 + [None]
    cur = ["a"] * 20 + ["b"] * 30 + ["d"] * 50 + [float("nan")]
    cats, table = contingency(ref, cur)
    assert cats == ["a", "b", "c", "d"]
    assert table.tolist() == [[50, 30, 20, 0], [20, 30, 0, 50]]
    p = np.maximum(np.array([0.5, 0.3, 0.2, 0.0]), 1e-4)
    q = np.maximum(np.array([0.2, 0.3, 0.0, 0.5]), 1e-4)
    assert float(psi(table[0], table[1])) == pytest.approx(np.sum((q - p) * np.log(q / p)))


def test_chi2_matches_scipy_chi2_contingency() -> None:
    rng = np.random.default_rng(10)
    for _ in range(200):
        shape = (int(rng.integers(2, 4)), int(rng.integers(2, 9)))
        table = rng.integers(1, 60, size=shape) * (rng.random(shape) < 0.9)
        table[:, rng.integers(0, shape[1])] += 1  # no empty row
        for correction in (True, False):
            ours = chi2_homogeneity(table, correction)
            kept = table[:, table.sum(axis=0) > 0]
            ref = stats.chi2_contingency(kept, correction=correction)
            assert ours[2] == ref.dof
            assert_close(ours[0], ref.statistic)
            assert_close(ours[1], ref.pvalue)


def test_chi2_yates_correction_on_two_by_two() -> None:
    table = np.array([[12, 5], [7, 15]])
    with_yates, without = chi2_homogeneity(table, True), chi2_homogeneity(table, False)
    assert with_yates[0] < without[0]
    assert_close(with_yates[1], stats.chi2_contingency(table, correction=True).pvalue)
    assert_close(without[1], stats.chi2_contingency(table, correction=False).pvalue)


def test_chi2_degenerate_tables() -> None:
    assert chi2_homogeneity(np.array([[5], [7]])) == (0.0, 1.0, 0)
    stat, p, dof = chi2_homogeneity(np.array([[0, 0], [3, 4]]))
    assert np.isnan(stat) and np.isnan(p) and dof == 0


def test_benjamini_hochberg_matches_scipy_and_bonferroni_a_direct_computation() -> None:
    rng = np.random.default_rng(11)
    for m in (1, 2, 10, 57):
        p = rng.uniform(0, 0.2, size=m) ** 2
        rejected, adjusted = correct(p, "bh", 0.05)
        expected = stats.false_discovery_control(p, method="bh")
        assert_close(adjusted, expected)
        np.testing.assert_array_equal(rejected, expected <= 0.05)
        rejected, adjusted = correct(p, "bonferroni", 0.05)
        assert_close(adjusted, np.minimum(p * m, 1.0))
        np.testing.assert_array_equal(rejected, p * m <= 0.05)


def test_correct_leaves_nan_out_of_the_family() -> None:
    rejected, adjusted = correct([0.01, np.nan, 0.02], "bonferroni", 0.05)
    assert rejected.tolist() == [True, False, True]
    assert adjusted[0] == 0.02 and np.isnan(adjusted[1])
    with pytest.raises(OperatorError, match="method"):
        correct([0.1], "holm")


def test_exact_pvalues_do_not_depend_on_what_is_computed_with_them() -> None:
    """Bit for bit the same alone or in a batch (memo cleared), so a restored monitor, whose
    memo starts empty, reports the very same p-values."""
    cases = [(999, 1000, 0.01, 0.3), (300, 1000, 0.02, 0.9), (40, 4321, 0.1, 0.99)]
    for n1, n2, low, high in cases:
        stats_ = np.linspace(low, high, 7)
        clear_memo()
        together = ks_2samp_pvalues(stats_, n1, n2)[1]
        for d, p in zip(stats_, together, strict=True):
            clear_memo()
            assert ks_2samp_pvalues([d], n1, n2)[1][0] == p


def test_a_full_memo_is_emptied_without_losing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stat_tests, "CACHE_SIZE", 3)
    clear_memo()
    first = ks_2samp_pvalues([0.1, 0.2, 0.3], 50, 70)[1]
    again = ks_2samp_pvalues([0.1, 0.2, 0.3, 0.4], 50, 70)[1]  # 3 + 4 > 3: emptied first
    assert again[:3].tolist() == first.tolist()
