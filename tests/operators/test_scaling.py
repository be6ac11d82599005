"""Scalers: StandardScaler against River per event, the others against hand-computed outputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from river import preprocessing

from operators.errors import OperatorError
from operators.scaling import (
    MinMaxScaler,
    QuantileBinner,
    RobustScaler,
    SignedLog1p,
    StandardScaler,
)


def _stream(seed: int, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        (
            rng.normal(1000.0, 5.0, n),
            rng.lognormal(0.0, 2.0, n),
            np.round(rng.normal(size=n)) * 1e6 + 5.0,
            np.full(n, 3.0),  # zero variance: always 0
        )
    )


def _river_transform_then_learn(x: np.ndarray) -> np.ndarray:
    scaler = preprocessing.StandardScaler()
    out = []
    for row in x:
        event = dict(enumerate(row.tolist()))
        z = scaler.transform_one(event)
        scaler.learn_one(event)
        out.append([z[j] for j in range(len(row))])
    return np.array(out)


def _in_random_batches(
    scaler: StandardScaler | MinMaxScaler, x: np.ndarray, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cuts = [0, *np.sort(rng.integers(0, len(x), 15)).tolist(), len(x)]
    return np.vstack([scaler.transform_then_learn(x[a:b]) for a, b in itertools.pairwise(cuts)])


@pytest.mark.parametrize("seed", range(3))
def test_standard_scaler_matches_river_per_event(seed: int) -> None:
    x = _stream(seed)
    expected = _river_transform_then_learn(x)
    # z-scores are O(1): where River's value is 0 up to rounding, compare absolutely
    np.testing.assert_allclose(
        _in_random_batches(StandardScaler(), x, seed), expected, rtol=1e-9, atol=1e-9
    )
    one_by_one = StandardScaler()
    rows = np.vstack([one_by_one.transform_then_learn(x[i : i + 1]) for i in range(300)])
    np.testing.assert_allclose(rows, expected[:300], rtol=1e-9, atol=1e-9)
    assert np.all(expected[:, 3] == 0.0)


def test_standard_scaler_merge_learn_and_transform() -> None:
    x = _stream(5)
    left, right, whole = StandardScaler(), StandardScaler(), StandardScaler()
    left.learn(x[:700])
    right.learn(x[700:])
    whole.learn(x)
    merged = left.merge(right)
    np.testing.assert_allclose(merged.moments.mean, whole.moments.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.transform(x), whole.transform(x), rtol=1e-9, atol=1e-9)
    expected = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), np.inf)
    np.testing.assert_allclose(whole.transform(x), expected, rtol=1e-9, atol=1e-9)
    with pytest.raises(OperatorError, match="merge expects a StandardScaler of width 4"):
        left.merge(StandardScaler().merge(_width_two()))
    assert StandardScaler().merge(left).width == 4


def _width_two() -> StandardScaler:
    s = StandardScaler()
    s.learn(np.zeros((1, 2)))
    return s


def test_standard_scaler_clip_nan_and_empty() -> None:
    s = StandardScaler(clip=2.0)
    assert s.transform(np.array([[5.0]])).tolist() == [[0.0]]  # nothing learned: 0
    out = s.transform_then_learn(np.array([[0.0], [np.nan], [2.0], [100.0], [-100.0]]))
    assert out[0, 0] == 0.0 and np.isnan(out[1, 0]) and out[2, 0] == 0.0  # spread 0 so far
    assert out[3, 0] == 2.0 and out[4, 0] == -2.0  # 99 and -2.87 standard deviations
    with pytest.raises(OperatorError, match="clip must be a finite number > 0.0"):
        StandardScaler(clip=0.0)


def test_standard_scaler_rejects_a_width_change() -> None:
    s = StandardScaler()
    s.learn(np.zeros((2, 3)))
    with pytest.raises(OperatorError, match="StandardScaler: input must be a 2-D array of 3"):
        s.transform_then_learn(np.zeros((2, 2)))


def test_min_max_exact() -> None:
    s = MinMaxScaler()
    x = np.array([[2.0, 1.0], [4.0, np.nan], [3.0, 1.0], [8.0, 5.0], [1.0, 3.0]])
    expected = [[0.0, 0.0], [0.0, np.nan], [0.5, 0.0], [3.0, 0.0], [-1 / 6, 0.5]]
    np.testing.assert_array_equal(s.transform_then_learn(x[:2]), expected[:2])
    np.testing.assert_array_equal(s.transform_then_learn(x[2:]), expected[2:])
    np.testing.assert_array_equal(s.transform(np.array([[5.0, 4.0]])), [[4 / 7, 0.75]])
    clipped = MinMaxScaler(clip=True)
    clipped.learn(x)
    np.testing.assert_array_equal(clipped.transform(np.array([[-5.0, 9.0]])), [[0.0, 1.0]])


def test_min_max_any_batching_equals_per_row() -> None:
    x = _stream(6)
    rows = MinMaxScaler()
    one_by_one = np.vstack([rows.transform_then_learn(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(_in_random_batches(MinMaxScaler(), x, 6), one_by_one)


def test_signed_log1p_exact() -> None:
    x = np.array([[0.0, 1.0, -1.0, np.e - 1.0, -(np.e**2 - 1.0), np.nan]])
    out = SignedLog1p().transform_then_learn(x)
    np.testing.assert_allclose(out[0, :5], [0.0, np.log(2.0), -np.log(2.0), 1.0, -2.0])
    assert np.isnan(out[0, 5])


def test_robust_scaler_uses_statistics_from_the_start_of_the_batch() -> None:
    s = RobustScaler(clip=10.0)
    first = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0], [4.0, 7.0], [10.0, 7.0]])
    assert s.transform_then_learn(first).tolist() == [[0.0, 0.0]] * 5  # nothing known yet
    second = np.array([[3.0, 8.0], [5.0, 7.0], [1000.0, np.nan]])
    median, iqr = 3.0, 4.0 - 2.0  # numpy's quartiles of the first batch's column 0
    out = s.transform_then_learn(second)
    np.testing.assert_array_equal(out[:2], [[0.0, 1.0], [(5.0 - median) / iqr, 0.0]])
    assert out[2, 0] == 10.0 and np.isnan(out[2, 1])  # clipped; NaN stays NaN


def test_quantile_binner_edges_and_bins() -> None:
    b = QuantileBinner(bins=4)
    data = np.arange(1.0, 101.0).reshape(-1, 1)
    assert b.transform_then_learn(data[:3]).ravel().tolist() == [0.0, 0.0, 0.0]
    b.learn(data[3:])
    edges = b.edges(1).ravel()
    np.testing.assert_array_equal(edges, np.quantile(data, [0.25, 0.5, 0.75]))
    x = np.array([[-1.0], [edges[0]], [50.0], [edges[1]], [99.0], [np.nan]])
    out = b.transform(x).ravel()
    assert out[:5].tolist() == [0.0, 1.0, 1.0, 2.0, 3.0] and np.isnan(out[5])
    with pytest.raises(OperatorError, match="QuantileBinner: bins must be an int >= 2"):
        QuantileBinner(bins=1)
