"""The KLL sketch against numpy: rank error under 1% on 1e5 values, merges, exactness when small."""

from __future__ import annotations

import numpy as np
import pytest

from operators.errors import OperatorError
from operators.quantiles import ColumnSketches, KLLSketch

N = 100_000
QS = np.linspace(0.01, 0.99, 99)


def _data(name: str, rng: np.random.Generator) -> np.ndarray:
    return {
        "normal": lambda: rng.normal(5.0, 3.0, N),
        "lognormal": lambda: rng.lognormal(0.0, 2.0, N),
        "uniform": lambda: rng.uniform(-1.0, 1.0, N),
        "discrete": lambda: rng.poisson(4.0, N).astype(np.float64),  # many ties
    }[name]()


def _rank_errors(sketch: KLLSketch, data: np.ndarray) -> tuple[float, float]:
    """Worst rank error of the sketch's quantiles and of its ranks, against the sorted data."""
    ordered = np.sort(data)
    n = len(data)
    values = sketch.quantiles(QS)
    # with ties, any rank between the value's first and last position is right
    low = np.searchsorted(ordered, values, "left") / n
    high = np.searchsorted(ordered, values, "right") / n
    quantile_error = np.maximum(0.0, np.maximum(low - QS, QS - high)).max()
    points = np.quantile(data, QS)
    true = np.searchsorted(ordered, points, "right") / n
    rank_error = np.abs(np.asarray(sketch.rank(points)) - true).max()
    return float(quantile_error), float(rank_error)


@pytest.mark.parametrize("name", ["normal", "lognormal", "uniform", "discrete"])
def test_rank_error_below_one_percent(name: str) -> None:
    rng = np.random.default_rng(11)
    for seed in range(3):
        data = _data(name, rng)
        sketch = KLLSketch(seed=seed)
        for start in range(0, N, 1000):
            sketch.update(data[start : start + 1000])
        assert sketch.count == N
        assert max(_rank_errors(sketch, data)) < 0.01
        assert sketch.n_retained < 3 * sketch.k + 40  # bounded memory


@pytest.mark.parametrize("name", ["normal", "discrete"])
def test_merge_of_shards_keeps_the_error_bound(name: str) -> None:
    data = _data(name, np.random.default_rng(12))
    left, right = KLLSketch(seed=1), KLLSketch(seed=2)
    for start in range(0, N, 1000):
        (left if start < 60_000 else right).update(data[start : start + 1000])
    before = (left.quantiles(QS), right.quantiles(QS))
    merged = left.merge(right)
    assert merged.count == N
    assert max(_rank_errors(merged, data)) < 0.01
    np.testing.assert_array_equal(left.quantiles(QS), before[0])  # inputs unchanged
    np.testing.assert_array_equal(right.quantiles(QS), before[1])


def test_small_streams_are_exact_like_numpy() -> None:
    rng = np.random.default_rng(13)
    data = rng.normal(size=150)
    sketch = KLLSketch(k=200, seed=0)
    sketch.update(data[:70])
    sketch.update(data[70:])
    qs = np.linspace(0.0, 1.0, 41)
    np.testing.assert_array_equal(sketch.quantiles(qs), np.quantile(data, qs))
    assert sketch.quantile(0.5) == np.quantile(data, 0.5)
    np.testing.assert_array_equal(
        sketch.rank(data), (np.sort(data)[None, :] <= data[:, None]).mean(axis=1)
    )


def test_nan_ignored_and_empty_sketch() -> None:
    sketch = KLLSketch()
    assert np.isnan(sketch.quantile(0.5)) and np.isnan(sketch.rank(1.0))
    sketch.update(np.array([np.nan, np.nan]))
    assert sketch.count == 0
    sketch.update(np.array([[1.0, np.nan], [3.0, 2.0]]))
    assert (sketch.count, sketch.quantile(0.5)) == (3, 2.0)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(OperatorError, match="KLLSketch: k must be an int >= 8"):
        KLLSketch(k=4)
    with pytest.raises(OperatorError, match="quantiles must be probabilities"):
        KLLSketch().quantiles([0.5, 1.5])
    with pytest.raises(OperatorError, match="merge expects a KLLSketch"):
        KLLSketch().merge(ColumnSketches())  # type: ignore[arg-type]


def test_column_sketches_are_per_column() -> None:
    rng = np.random.default_rng(14)
    data = np.column_stack((rng.normal(size=500), rng.uniform(size=500)))
    data[::7, 1] = np.nan
    sketches = ColumnSketches(k=200, seed=3)
    sketches.update(data)
    got = sketches.quantiles([0.25, 0.5], width=2)
    assert got.shape == (2, 2)
    for j in range(2):
        column = data[:, j]
        exact = np.quantile(column[~np.isnan(column)], [0.25, 0.5])
        assert np.all(np.abs(got[:, j] - exact) < 0.05)
    assert np.isnan(ColumnSketches().quantiles([0.5], width=3)).all()
