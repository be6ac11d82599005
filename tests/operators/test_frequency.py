"""Misra-Gries counts: exact while few distinct values, error at most n / (capacity + 1)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from operators.errors import OperatorError
from operators.frequency import FrequentItems


def _feed(summary: FrequentItems, values: np.ndarray) -> None:
    for start in range(0, len(values), 250):
        distinct, counts = np.unique(values[start : start + 250], return_counts=True)
        summary.add(distinct.tolist(), counts.tolist())


def test_exact_while_distinct_values_fit() -> None:
    values = np.random.default_rng(0).integers(0, 30, 5000)
    summary = FrequentItems(capacity=30)
    _feed(summary, values)
    assert summary.counts == dict(Counter(values.tolist()))


def test_error_bound_and_capacity() -> None:
    values = np.random.default_rng(1).zipf(1.3, 20_000) % 1000
    summary = FrequentItems(capacity=50)
    _feed(summary, values)
    truth = Counter(values.tolist())
    assert len(summary.counts) <= 50
    bound = len(values) / 51
    for value, count in truth.items():
        estimate = summary.counts.get(value, 0)
        assert count - bound <= estimate <= count
    assert summary.most_frequent() == max(truth, key=lambda v: (truth[v], -v))


def test_empty_and_settings() -> None:
    assert FrequentItems(3).most_frequent() is None
    with pytest.raises(OperatorError, match="FrequentItems: capacity must be an int >= 1"):
        FrequentItems(0)
