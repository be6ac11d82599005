"""Bounded counts of the most frequent values of a stream (Misra-Gries summary).

At most ``capacity`` values are counted. While no more than ``capacity`` distinct values have
been seen the counts are exact; past that, adding a batch subtracts the ``capacity + 1``-th
largest count from every count and drops those that reach 0 (the mergeable Misra-Gries rule),
so each count is low by at most ``n / (capacity + 1)`` after ``n`` values.

>>> f = FrequentItems(capacity=2)
>>> f.add(["a", "b", "a"], [1, 1, 1])
>>> f.counts
{'a': 2, 'b': 1}
>>> f.add(["c"], [5])
>>> f.counts
{'a': 1, 'c': 4}
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from operators.errors import check_int

__all__ = ["FrequentItems"]


class FrequentItems:
    """Counts of at most ``capacity`` values, exact while there are no more distinct values.

    Args:
        capacity: how many values are counted at most (>= 1).

    Attributes:
        counts: count by value, in order of first appearance.

    >>> f = FrequentItems(capacity=10)
    >>> f.add([1.0, 2.0], [3, 1])
    >>> f.add([2.0], [1])
    >>> (f.counts, f.most_frequent())
    ({1.0: 3, 2.0: 2}, 1.0)
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = check_int("FrequentItems", "capacity", capacity, minimum=1)
        self.counts: dict[Hashable, int] = {}

    def add(self, values: Sequence[Hashable], counts: Sequence[int]) -> None:
        """Add ``counts[i]`` occurrences of ``values[i]`` for each ``i``.

        Args:
            values: distinct values (e.g. from ``numpy.unique``).
            counts: how often each occurred.
        """
        table = self.counts
        for value, count in zip(values, counts, strict=True):
            table[value] = table.get(value, 0) + int(count)
        if len(table) > self.capacity:
            cut = sorted(table.values(), reverse=True)[self.capacity]
            self.counts = {v: c - cut for v, c in table.items() if c > cut}

    def most_frequent(self) -> Any:
        """The value with the largest count, the smallest such value on ties (None if empty).

        Values must be mutually orderable (e.g. all numbers) to break ties.

        >>> f = FrequentItems(8)
        >>> f.add([3.0, 1.0, 2.0], [2, 2, 1])
        >>> f.most_frequent()
        1.0
        """
        if not self.counts:
            return None
        top = max(self.counts.values())
        return min(v for v, c in self.counts.items() if c == top)  # type: ignore[type-var]
