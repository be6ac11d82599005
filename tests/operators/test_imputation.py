"""Imputer: every strategy exactly against numpy (and River's StatImputer) on the values
observed before each row, under the block rule for the sketch-based ones; the same bits for
any cut; indicators."""

from __future__ import annotations

import numpy as np
import pytest
from river import preprocessing, stats

from operators.columns import block_end
from operators.errors import OperatorError
from operators.imputation import STRATEGIES, Imputer
from tests.cuts import check_cut_invariance


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


def test_mean_matches_rivers_stat_imputer_per_event() -> None:
    x = _data(1)
    ours = Imputer("mean").transform_then_learn(x)
    river = preprocessing.StatImputer(*[(j, stats.Mean()) for j in range(2)])
    for i, row in enumerate(x.tolist()):
        event = {j: None if np.isnan(v) else v for j, v in enumerate(row)}
        want = river.transform_one(event)
        river.learn_one(event)
        for j in range(2):
            if want[j] is None:  # River has no statistic yet; we fill 0.0
                assert ours[i, j] == 0.0
            else:
                assert ours[i, j] == pytest.approx(want[j], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_gives_the_same_bits_for_any_cut(strategy: str) -> None:
    x = _data(4, n=3000)
    x[1000:1500, 0] = np.nan  # a long gap
    check_cut_invariance(
        lambda: Imputer(strategy, 1.0, indicator=True, k=16, seed=2, capacity=3, block=64),
        lambda imp, a, b: imp.transform_then_learn(x[a:b]),
        len(x),
    )


def _most_frequent(v: np.ndarray) -> float:
    values, counts = np.unique(v, return_counts=True)
    return float(values[np.argmax(counts)])  # the smallest value on ties, as the imputer


@pytest.mark.parametrize(
    ("strategy", "statistic"),
    [("median", lambda v: np.quantile(v, 0.5)), ("most_frequent", _most_frequent)],
)
def test_block_strategies_use_the_rows_before_the_rows_block(
    strategy: str, statistic: object
) -> None:
    # k and capacity large enough to stay exact; block 64: blocks 1, 1, 2, 4, ..., 32, then 64.
    x = _data(2)
    out = Imputer(strategy, fill_value=-1.0, k=2000, capacity=1000, block=64).transform_then_learn(
        x
    )
    start = 0
    while start < len(x):
        end = min(block_end(start, 64), len(x))
        for j in range(2):
            seen = x[:start, j][~np.isnan(x[:start, j])]
            want = statistic(seen) if len(seen) else -1.0  # type: ignore[operator]
            rows = x[start:end, j]
            np.testing.assert_array_equal(out[start:end, j], np.where(np.isnan(rows), want, rows))
        start = end


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
