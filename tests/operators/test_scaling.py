"""Scalers: StandardScaler and MinMaxScaler against River per event, the sketch-based ones
against numpy under the block rule; every scaler gives the same bits for any cut."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from river import preprocessing

from operators.columns import block_end
from operators.errors import OperatorError
from operators.scaling import (
    MinMaxScaler,
    QuantileBinner,
    RobustScaler,
    SignedLog1p,
    StandardScaler,
)
from tests.cuts import check_cut_invariance


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


def _river_transform_then_learn(x: np.ndarray, scaler: Any = None) -> np.ndarray:
    scaler = preprocessing.StandardScaler() if scaler is None else scaler
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
    # River takes v ** 0.5 where we take sqrt (correctly rounded): 1 ulp apart at most
    np.testing.assert_allclose(
        _in_random_batches(StandardScaler(), x, seed), expected, rtol=1e-12, atol=1e-12
    )
    one_by_one = StandardScaler()
    rows = np.vstack([one_by_one.transform_then_learn(x[i : i + 1]) for i in range(300)])
    np.testing.assert_allclose(rows, expected[:300], rtol=1e-12, atol=1e-12)
    assert np.all(expected[:, 3] == 0.0)


def test_min_max_scaler_matches_river_per_event_bit_for_bit() -> None:
    x = _stream(4)
    river = preprocessing.MinMaxScaler()
    expected = []
    for row in x:
        event = dict(enumerate(row.tolist()))
        z = river.transform_one(event)
        river.learn_one(event)
        expected.append([z[j] for j in range(len(row))])
    ours = _in_random_batches(MinMaxScaler(), x, 4)
    # before any value River divides by -inf - inf (NaN); we give 0, as wherever the range is 0
    assert ours[0].tolist() == [0.0] * 4 and np.isnan(expected[0]).all()
    np.testing.assert_array_equal(ours[1:], expected[1:])


def _outliers(seed: int, n: int = 3000) -> np.ndarray:
    """Columns with missing values, outliers, ties and a column that starts late."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        (
            rng.normal(1000.0, 5.0, n),
            np.where(rng.random(n) < 0.02, 1e9, rng.lognormal(0.0, 2.0, n)),
            rng.integers(0, 4, n).astype(np.float64),
            np.where(np.arange(n) < n // 2, np.nan, rng.normal(size=n)),
        )
    )
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


SCALERS: dict[str, Callable[[], Any]] = {
    "standard": lambda: StandardScaler(clip=3.0),
    "minmax": lambda: MinMaxScaler(clip=True),
    "log": SignedLog1p,
    "robust": lambda: RobustScaler(clip=5.0, k=16, seed=3, block=64),
    "quantile_bins": lambda: QuantileBinner(bins=5, k=16, seed=3, block=100),
}


@pytest.mark.parametrize("kind", SCALERS)
def test_every_scaler_gives_the_same_bits_for_any_cut(kind: str) -> None:
    x = _outliers(1)
    check_cut_invariance(SCALERS[kind], lambda s, a, b: s.transform_then_learn(x[a:b]), len(x))


def _block_starts(n: int, block: int) -> np.ndarray:
    """For each row, the first row of its block: the rows the sketch has learned before it."""
    start, out = 0, []
    while start < n:
        end = block_end(start, block)
        out += [start] * (min(end, n) - start)
        start = end
    return np.array(out)


def _nan_quantiles(x: np.ndarray, qs: list[float]) -> np.ndarray:
    out = np.full((len(qs), x.shape[1]), np.nan)
    for j in range(x.shape[1]):
        values = x[~np.isnan(x[:, j]), j]
        if len(values):
            out[:, j] = np.quantile(values, qs)
    return out


def test_sketch_scalers_use_the_sketch_as_of_the_start_of_the_rows_block() -> None:
    # k large enough that the sketches stay exact: they then reproduce numpy.quantile.
    x = _outliers(2, n=700)
    robust = RobustScaler(k=2000, block=50).transform_then_learn(x)
    binned = QuantileBinner(bins=4, k=2000, block=50).transform_then_learn(x)
    for i, start in enumerate(_block_starts(len(x), 50).tolist()):
        low, median, high = _nan_quantiles(x[:start], [0.25, 0.5, 0.75])
        scale = np.where(high - low > 0, high - low, 1.0)
        want = np.where(np.isnan(median), 0.0, (x[i] - median) / scale)
        want[np.isnan(x[i])] = np.nan
        np.testing.assert_array_equal(robust[i], want, err_msg=str(i))
        edges = _nan_quantiles(x[:start], [0.25, 0.5, 0.75])
        bins = (x[i][None, :] >= edges).sum(axis=0).astype(float)
        bins[np.isnan(x[i])] = np.nan
        np.testing.assert_array_equal(binned[i], bins, err_msg=str(i))


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


def test_robust_scaler_blocks_clip_and_nan() -> None:
    s = RobustScaler(clip=10.0, block=4)
    first = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0], [4.0, 7.0]])
    out = s.transform_then_learn(first)
    assert out[0].tolist() == [0.0, 0.0]  # nothing known yet
    assert out[1].tolist() == [1.0, 0.0]  # the block {1}: median 1, IQR 0 (divided by 1)
    np.testing.assert_array_equal(out[2:, 0], [(3.0 - 1.5) / 0.5, (4.0 - 1.5) / 0.5])
    second = np.array([[3.0, 8.0], [5.0, 7.0], [1000.0, np.nan]])
    median, iqr = 2.5, 3.25 - 1.75  # numpy's quartiles of the first four rows' column 0
    out = s.transform_then_learn(second)
    np.testing.assert_array_equal(
        out[:2], [[(3.0 - median) / iqr, 1.0], [(5.0 - median) / iqr, 0.0]]
    )
    assert out[2, 0] == 10.0 and np.isnan(out[2, 1])  # clipped; NaN stays NaN


def test_quantile_binner_edges_and_bins() -> None:
    b = QuantileBinner(bins=4, block=128)
    data = np.arange(1.0, 129.0).reshape(-1, 1)
    assert b.transform_then_learn(data[:3]).ravel().tolist() == [0.0, 3.0, 3.0]  # edges 1, 1, 1
    b.learn(data[3:])
    edges = b.edges(1).ravel()
    np.testing.assert_array_equal(edges, np.quantile(data, [0.25, 0.5, 0.75]))
    x = np.array([[-1.0], [edges[0]], [50.0], [edges[1]], [99.0], [np.nan]])
    out = b.transform(x).ravel()
    assert out[:5].tolist() == [0.0, 1.0, 1.0, 2.0, 3.0] and np.isnan(out[5])
    with pytest.raises(OperatorError, match="QuantileBinner: bins must be an int >= 2"):
        QuantileBinner(bins=1)
    with pytest.raises(OperatorError, match="RobustScaler: block must be an int >= 1"):
        RobustScaler(block=0)
