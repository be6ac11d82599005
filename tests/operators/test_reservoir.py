"""Reservoirs against their definitions: uniform inclusion (chi-square), exact weighted inclusion
probabilities, merges, batch-independence and the stratified cap rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from operators.errors import OperatorError
from operators.reservoir import (
    OVERFLOW,
    StratifiedReservoir,
    UniformReservoir,
    WeightedReservoir,
)
from tests.cuts import check_cut_invariance

RUNS = 2000
MERGE_RUNS = 1000


def _random_splits(rng: np.random.Generator, n: int) -> list[int]:
    """Cut points of a stream of n items into random batches (some empty)."""
    cuts = np.sort(rng.integers(0, n + 1, size=int(rng.integers(0, 12))))
    return [0, *cuts.tolist(), n]


def _feed(reservoir: UniformReservoir, items: np.ndarray, rng: np.random.Generator) -> None:
    bounds = _random_splits(rng, len(items))
    for a, b in itertools.pairwise(bounds):
        reservoir.update(items[a:b])


def _inclusion_counts(samples: list[list[int]], n: int) -> np.ndarray:
    return np.bincount(
        np.concatenate([np.asarray(s, dtype=np.int64) for s in samples]), minlength=n
    )


def test_uniform_inclusion_is_uniform_over_positions() -> None:
    rng = np.random.default_rng(0)
    samples = []
    for seed in range(RUNS):
        r = UniformReservoir(size=20, seed=seed)
        _feed(r, np.arange(200), rng)
        assert r.seen == 200
        sample = r.sample()
        assert len(sample) == 20 and len(set(sample)) == 20
        samples.append(sample)
    counts = _inclusion_counts(samples, 200)
    assert stats.chisquare(counts).pvalue > 0.001


def test_uniform_long_stream_positions_are_uniform() -> None:
    # Large skips: the kept positions of a 100k stream are uniform on [0, 100k).
    kept = []
    for seed in range(200):
        r = UniformReservoir(size=10, seed=seed)
        for start in range(0, 100_000, 1000):
            r.update(np.arange(start, start + 1000))
        kept += r.sample()
    assert stats.kstest(np.array(kept) / 100_000, "uniform").pvalue > 0.001


def _stream(n: int) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Items, weights (with zeros, NaN, infinities and huge ones) and strata (with None, the
    reserved key and more keys than strata)."""
    rng = np.random.default_rng(6)
    weights = rng.exponential(size=n)
    weights[rng.random(n) < 0.05] = 0.0
    weights[rng.random(n) < 0.01] = np.nan
    weights[rng.random(n) < 0.005] = np.inf
    weights[rng.random(n) < 0.002] = 1e9
    keys = [None if k == 0 else OVERFLOW if k == 1 else f"s{k}" for k in rng.zipf(1.5, n) % 30]
    return np.arange(n), weights, keys


@pytest.mark.parametrize("kind", ["uniform", "weighted", "stratified"])
def test_same_sample_and_generator_state_for_any_cut(kind: str) -> None:
    items, weights, keys = _stream(30_000)
    build, feed = {
        "uniform": (
            lambda: UniformReservoir(40, seed=3),
            lambda r, a, b: r.update(items[a:b]),
        ),
        "weighted": (
            lambda: WeightedReservoir(40, seed=3),
            lambda r, a, b: r.update(items[a:b], weights[a:b]),
        ),
        "stratified": (
            lambda: StratifiedReservoir(6, max_strata=5, seed=3),
            lambda r, a, b: r.update(items[a:b], keys[a:b]),
        ),
    }[kind]
    check_cut_invariance(build, lambda r, a, b: feed(r, a, b) or None, len(items))


def test_uniform_short_stream_keeps_everything() -> None:
    r = UniformReservoir(10, seed=0)
    r.update(["a", "b"])
    r.update([])
    assert (r.seen, sorted(r.sample())) == (2, ["a", "b"])


@pytest.mark.parametrize("sizes", [(120, 80), (5, 195), (0, 200)])
def test_uniform_merge_is_uniform_over_the_union(sizes: tuple[int, int]) -> None:
    left, right = sizes
    rng = np.random.default_rng(2)
    samples = []
    for seed in range(MERGE_RUNS):
        a, b = UniformReservoir(20, seed=seed), UniformReservoir(20, seed=seed + RUNS)
        _feed(a, np.arange(left), rng)
        _feed(b, np.arange(left, left + right), rng)
        before = (a.sample(), b.sample(), a.seen, b.seen)
        m = a.merge(b)
        assert (a.sample(), b.sample(), a.seen, b.seen) == before  # inputs unchanged
        assert m.seen == 200 and len(m.sample()) == 20
        samples.append(m.sample())
    assert stats.chisquare(_inclusion_counts(samples, 200)).pvalue > 0.001


def test_uniform_merged_reservoir_continues_uniformly() -> None:
    rng = np.random.default_rng(4)
    samples = []
    for seed in range(MERGE_RUNS):
        a, b = UniformReservoir(20, seed=seed), UniformReservoir(20, seed=seed + RUNS)
        _feed(a, np.arange(100), rng)
        _feed(b, np.arange(100, 150), rng)
        m = a.merge(b)
        _feed(m, np.arange(150, 300), rng)
        assert m.seen == 300
        samples.append(m.sample())
    assert stats.chisquare(_inclusion_counts(samples, 300)).pvalue > 0.001


def test_uniform_rejects_bad_settings_and_merges() -> None:
    with pytest.raises(OperatorError, match="UniformReservoir: size"):
        UniformReservoir(0)
    with pytest.raises(OperatorError, match="UniformReservoir: seed"):
        UniformReservoir(3, seed=-1)
    with pytest.raises(OperatorError, match="merge expects"):
        UniformReservoir(3).merge(UniformReservoir(4))


def _successive_sampling_inclusion(weights: list[float], k: int) -> np.ndarray:
    """Exact inclusion probabilities of drawing k items one by one, each with probability
    proportional to its weight among the items not drawn yet (enumerating all orders)."""
    p = np.zeros(len(weights))
    for order in itertools.permutations(range(len(weights)), k):
        prob, left = 1.0, float(sum(weights))
        for i in order:
            prob *= weights[i] / left
            left -= weights[i]
        p[list(order)] += prob
    return p


@pytest.mark.parametrize(
    ("weights", "size", "runs"),
    [([1.0, 2.0, 3.0, 4.0], 2, 10_000), ([5.0, 0.5, 1.0, 3.0, 0.2, 8.0, 1.0, 2.5], 3, 8_000)],
)
def test_weighted_inclusion_matches_successive_sampling(
    weights: list[float], size: int, runs: int
) -> None:
    expected = _successive_sampling_inclusion(weights, size)
    rng = np.random.default_rng(5)
    counts = np.zeros(len(weights))
    items = np.arange(len(weights))
    w = np.array(weights)
    for seed in range(runs):
        r = WeightedReservoir(size, seed=seed)
        bounds = _random_splits(rng, len(weights))
        for a, b in itertools.pairwise(bounds):
            r.update(items[a:b], w[a:b])
        counts[r.sample()] += 1
    z = (counts / runs - expected) / np.sqrt(expected * (1 - expected) / runs)
    assert np.all(np.abs(z) < 4.5), (counts / runs, expected)


def test_weighted_skips_and_counts_invalid_weights() -> None:
    r = WeightedReservoir(5, seed=0)
    r.update(list("abcdef"), [1.0, 0.0, -2.0, np.nan, np.inf, 2.0])
    assert (r.seen, r.skipped, sorted(r.sample())) == (2, 4, ["a", "f"])


def test_weighted_heavy_item_is_always_kept() -> None:
    for seed in range(20):
        r = WeightedReservoir(5, seed=seed)
        w = np.ones(20_000)
        w[12_345] = 1e9
        for start in range(0, 20_000, 1000):
            r.update(np.arange(start, start + 1000), w[start : start + 1000])
        assert 12_345 in r.sample()


def test_weighted_rejects_mismatched_weights() -> None:
    with pytest.raises(OperatorError, match="WeightedReservoir: weights must be one number"):
        WeightedReservoir(2).update([1, 2], [1.0])


def test_stratified_cap_rule() -> None:
    r = StratifiedReservoir(size_per_stratum=10, max_strata=2, seed=0)
    r.update(list(range(8)), ["b", "a", "c", "b", None, "d", OVERFLOW, "c"])
    r.update([8, 9], ["c", "a"])
    sample = r.sample()
    assert list(sample) == ["b", "a", OVERFLOW]
    assert sorted(sample["b"]) == [0, 3] and sorted(sample["a"]) == [1, 9]
    assert sorted(sample[OVERFLOW]) == [2, 4, 5, 6, 7, 8]
    assert r.seen == 10


def test_stratified_strata_are_uniform_and_bounded() -> None:
    keys = (np.arange(300) % 4).tolist()  # keys 0, 1, 2 own a stratum, 3 overflows
    counts = {0: np.zeros(300, dtype=np.int64), OVERFLOW: np.zeros(300, dtype=np.int64)}
    for seed in range(RUNS // 2):
        r = StratifiedReservoir(size_per_stratum=5, max_strata=3, seed=seed)
        r.update(list(range(300)), keys)
        sample = r.sample()
        assert list(sample) == [0, 1, 2, OVERFLOW] and all(len(v) == 5 for v in sample.values())
        for key, kept in counts.items():
            kept[sample[key]] += 1
    for key, first in ((0, 0), (OVERFLOW, 3)):
        assert stats.chisquare(counts[key][first::4]).pvalue > 0.001


def test_stratified_merge() -> None:
    a = StratifiedReservoir(3, max_strata=2, seed=1)
    b = StratifiedReservoir(3, max_strata=2, seed=2)
    a.update([1, 2, 3], ["x", "y", "x"])
    b.update([10, 11, 12, 13], ["x", "z", "w", "z"])
    m = a.merge(b)
    sample = m.sample()
    assert list(sample) == ["x", "y", OVERFLOW]
    assert sorted(sample["x"]) == [1, 3, 10] and sample["y"] == [2]
    assert sorted(sample[OVERFLOW]) == [11, 12, 13]
    assert m.seen == 7 and a.seen == 3 and b.seen == 4
    assert sorted(a.sample()["x"]) == [1, 3]  # inputs unchanged
    with pytest.raises(OperatorError, match="size_per_stratum 3"):
        a.merge(StratifiedReservoir(4, max_strata=2))


def test_stratified_rejects_mismatched_keys() -> None:
    with pytest.raises(OperatorError, match="keys must be one per item"):
        StratifiedReservoir(2, 2).update([1, 2], ["a"])
