"""Imputer: every strategy exactly against numpy on the values observed so far; indicators."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from operators.errors import OperatorError
from operators.imputation import Imputer


def _data(seed: int, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.column_stack((rng.normal(10.0, 2.0, n), rng.integers(0, 5, n).astype(np.float64)))
    x[rng.random(x.shape) < 0.2] = np.nan
    return x


def test_mean_fills_each_row_with_the_mean_of_the_rows_before() -> None:
    x = _data(0)
    out = Imputer("mean").transform_then_learn(x)
    for i in range(len(x)):
        for j in range(2):
            if np.isnan(x[i, j]):
                seen = x[:i, j][~np.isnan(x[:i, j])]
                want = np.mean(seen) if len(seen) else 0.0
                assert out[i, j] == pytest.approx(want, rel=1e-12, abs=1e-12)
            else:
                assert out[i, j] == x[i, j]


def test_mean_is_independent_of_batching() -> None:
    x = _data(1)
    whole = Imputer("mean").transform_then_learn(x)
    parts = Imputer("mean")
    cuts = [0, 1, 2, 50, 51, 300, 400]
    got = np.vstack([parts.transform_then_learn(x[a:b]) for a, b in itertools.pairwise(cuts)])
    np.testing.assert_allclose(got, whole, rtol=1e-12)


@pytest.mark.parametrize(
    ("strategy", "statistic"),
    [
        ("median", lambda v: np.quantile(v, 0.5)),
        ("most_frequent", lambda v: np.unique(v)[np.argmax(np.unique(v, return_counts=True)[1])]),
    ],
)
def test_batch_start_strategies_exact(strategy: str, statistic: object) -> None:
    x = _data(2)
    imputer = Imputer(strategy, fill_value=-1.0)
    first = imputer.transform_then_learn(x[:200])
    np.testing.assert_array_equal(first, np.where(np.isnan(x[:200]), -1.0, x[:200]))
    second = imputer.transform_then_learn(x[200:])
    for j in range(2):
        column = x[:200, j]
        want = statistic(column[~np.isnan(column)])  # type: ignore[operator]
        missing = np.isnan(x[200:, j])
        assert np.all(second[missing, j] == want)
        np.testing.assert_array_equal(second[~missing, j], x[200:, j][~missing])


def test_most_frequent_breaks_ties_by_the_smallest_value() -> None:
    imputer = Imputer("most_frequent")
    imputer.transform_then_learn(np.array([[3.0], [1.0], [3.0], [1.0], [2.0]]))
    assert imputer.transform_then_learn(np.array([[np.nan]])).tolist() == [[1.0]]


def test_constant_and_indicator() -> None:
    imputer = Imputer("constant", fill_value=7.5, indicator=True)
    x = np.array([[np.nan, 1.0], [2.0, np.nan]])
    assert imputer.transform_then_learn(x).tolist() == [[7.5, 1.0, 1.0, 0.0], [2.0, 7.5, 0.0, 1.0]]
    assert imputer.names(["a", "b"]) == ("a", "b", "a__missing", "b__missing")
    assert Imputer().names(["a"]) == ("a",)


def test_settings_are_checked() -> None:
    with pytest.raises(OperatorError, match="Imputer: strategy must be one of"):
        Imputer("mode")
    with pytest.raises(OperatorError, match="fill_value must be a finite number for strategy"):
        Imputer("constant")
    with pytest.raises(OperatorError, match="fill_value must be a finite number or None"):
        Imputer("mean", fill_value=float("nan"))
