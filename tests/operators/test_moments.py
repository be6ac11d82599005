"""Running mean and variance against numpy: batches, random splits, merges, per-row prefixes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from operators.moments import RunningMoments

RTOL = 1e-9


def _data(seed: int, n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        (
            rng.normal(1e6, 1.0, n),  # large offset, small spread
            rng.lognormal(0.0, 2.0, n),
            rng.integers(-3, 4, n).astype(np.float64),
        )
    )
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


def _numpy_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (~np.isnan(x)).sum(axis=0), np.nanmean(x, axis=0), np.nanvar(x, axis=0)


def _check(m: RunningMoments, x: np.ndarray) -> None:
    count, mean, var = _numpy_moments(x)
    np.testing.assert_array_equal(m.count, count)
    np.testing.assert_allclose(m.mean, mean, rtol=RTOL)
    np.testing.assert_allclose(m.var, var, rtol=RTOL)


@pytest.mark.parametrize("seed", range(5))
def test_random_batch_splits_match_numpy(seed: int) -> None:
    x = _data(seed)
    rng = np.random.default_rng(seed + 100)
    cuts = [0, *np.sort(rng.integers(0, len(x), 20)).tolist(), len(x)]
    m = RunningMoments()
    for a, b in itertools.pairwise(cuts):
        m.learn(x[a:b])
    _check(m, x)


def test_single_rows_match_numpy() -> None:
    x = _data(7, n=300)
    m = RunningMoments()
    for row in x:
        m.learn(row[None, :])
    _check(m, x)


def test_merge_of_two_shards_matches_numpy() -> None:
    x = _data(8)
    left, right = RunningMoments(), RunningMoments()
    left.learn(x[:1000])
    right.learn(x[1000:2000])
    right.learn(x[2000:])
    merged = left.merge(right)
    _check(merged, x)
    _check(left, x[:1000])  # inputs unchanged
    _check(RunningMoments().merge(left), x[:1000])
    _check(left.merge(RunningMoments()), x[:1000])


def test_prefix_is_the_statistics_of_the_rows_before() -> None:
    x = _data(9, n=200)
    m = RunningMoments()
    m.learn(x[:50])
    count, mean, m2 = m.prefix(x[50:])
    for i in range(150):
        before = x[: 50 + i]
        want_count, want_mean, want_var = _numpy_moments(before)
        np.testing.assert_array_equal(count[i], want_count)
        # atol: a mean that is 0 up to rounding has no meaningful relative error
        np.testing.assert_allclose(mean[i], want_mean, rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(m2[i] / count[i], want_var, rtol=RTOL)
    _check(m, x[:50])  # prefix does not learn


def test_empty_columns_and_batches() -> None:
    m = RunningMoments()
    m.learn(np.full((3, 2), np.nan))
    assert m.count.tolist() == [0.0, 0.0] and m.var.tolist() == [0.0, 0.0]
    count, mean, m2 = m.prefix(np.zeros((0, 2)))
    assert count.shape == mean.shape == m2.shape == (0, 2)
