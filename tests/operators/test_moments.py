"""Running mean and variance against River's recurrences and numpy: any cut gives the same
bits, per-row prefixes, merges."""

from __future__ import annotations

import numpy as np
import pytest
from river import preprocessing, stats

from operators.moments import RunningMoments
from tests.cuts import check_cut_invariance

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


@pytest.mark.parametrize("seed", range(3))
def test_any_cut_gives_the_same_bits_as_rivers_recurrence(seed: int) -> None:
    x = _data(seed)

    def feed(m: RunningMoments, a: int, b: int) -> np.ndarray:
        return np.hstack(m.prefix_then_learn(x[a:b]))

    prefixes = check_cut_invariance(RunningMoments, feed, len(x))
    river = preprocessing.StandardScaler()  # its state: counts, means, vars
    means, variances = [], [stats.Var(ddof=0) for _ in range(3)]
    for i, row in enumerate(x):
        for j, value in enumerate(row.tolist()):
            means.append(river.means[j] if river.counts[j] else np.nan)
            assert (
                prefixes[i, 3 + j]
                == river.vars[j]
                == pytest.approx(variances[j].get(), rel=1e-12, abs=1e-12)
            )
            if not np.isnan(value):
                river.learn_one({j: value})
                variances[j].update(value)
    np.testing.assert_array_equal(prefixes[:, :3].ravel(), means)
    m = RunningMoments()
    m.learn(x)
    _check(m, x)
    assert m.mean.tolist() == [river.means[j] for j in range(3)]


def test_prefix_is_the_statistics_of_the_rows_before() -> None:
    x = _data(9, n=200)
    m = RunningMoments()
    m.learn(x[:50])
    mean, var = m.prefix_then_learn(x[50:])
    for i in range(150):
        _, want_mean, want_var = _numpy_moments(x[: 50 + i])
        # atol: a mean that is 0 up to rounding has no meaningful relative error
        np.testing.assert_allclose(mean[i], want_mean, rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(var[i], want_var, rtol=RTOL, atol=1e-12)
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


def test_empty_columns_and_batches() -> None:
    m = RunningMoments()
    m.learn(np.full((3, 2), np.nan))
    assert m.count.tolist() == [0.0, 0.0] and m.var.tolist() == [0.0, 0.0]
    mean, var = m.prefix_then_learn(np.zeros((0, 2)))
    assert mean.shape == var.shape == (0, 2)
    mean, _ = m.prefix_then_learn(np.array([[1.0, np.nan]]))
    assert np.isnan(mean).all()  # no value before the row
