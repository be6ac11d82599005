"""Running count, mean and variance per column, updated a batch at a time (Welford / Chan).

A batch's own mean and sum of squared deviations are computed in two passes, then combined with
the running ones by Chan's parallel formula, so merging two shards and learning a batch are the
same operation. :meth:`RunningMoments.prefix` gives, for every row of a batch, the statistics of
all the values before that row (the earlier rows of the batch included) from cumulative sums of
values shifted by the running mean, which keeps the cancellation small.

>>> m = RunningMoments()
>>> m.learn(np.array([[1.0], [2.0], [np.nan], [3.0]]))
>>> (m.count.tolist(), m.mean.tolist(), m.var.tolist())
([3.0], [2.0], [0.6666666666666666])
"""

from __future__ import annotations

import numpy as np

__all__ = ["RunningMoments"]


class RunningMoments:
    """Count, mean and M2 (sum of squared deviations) of the non-NaN values of each column.

    The number of columns is set by the first batch. Before any value, a column's count,
    mean and variance are 0.

    >>> m = RunningMoments()
    >>> count, mean, m2 = m.prefix(np.array([[2.0], [4.0], [9.0]]))
    >>> (count.ravel().tolist(), mean.ravel().tolist(), m2.ravel().tolist())
    ([0.0, 1.0, 2.0], [0.0, 2.0, 3.0], [0.0, 0.0, 2.0])
    """

    def __init__(self) -> None:
        self.count = np.zeros(0)
        self.mean = np.zeros(0)
        self.m2 = np.zeros(0)

    @property
    def var(self) -> np.ndarray:
        """Population variance (ddof 0) of each column; 0 where there is no value."""
        return np.divide(self.m2, self.count, out=np.zeros_like(self.m2), where=self.count > 0)

    def learn(self, matrix: np.ndarray) -> None:
        """Add a batch (n_events x n_columns); NaNs are ignored.

        Args:
            matrix: the batch, with as many columns as the earlier ones.
        """
        self.start(matrix.shape[1])
        seen = ~np.isnan(matrix)
        count = seen.sum(axis=0).astype(np.float64)
        mean = np.where(seen, matrix, 0.0).sum(axis=0) / np.maximum(count, 1.0)
        m2 = np.square(np.where(seen, matrix - mean, 0.0)).sum(axis=0)
        self._combine(count, mean, m2)

    def merge(self, other: RunningMoments) -> RunningMoments:
        """The moments of the union of both streams (Chan's formula); neither input changes.

        Args:
            other: moments of another stream with the same columns (or none yet).

        Returns:
            New moments.
        """
        out = RunningMoments()
        out.count, out.mean, out.m2 = self.count.copy(), self.mean.copy(), self.m2.copy()
        if len(other.count):
            out.start(len(other.count))
            out._combine(other.count, other.mean, other.m2)
        return out

    def prefix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Statistics before each row of a batch, without learning the batch.

        Args:
            matrix: the batch (n_events x n_columns).

        Returns:
            ``(count, mean, m2)``, each n_events x n_columns: row ``i`` holds the moments of
            the running values plus the non-NaN values of rows ``0 .. i-1``.
        """
        count, reference, shifted, s1 = self._shifted_sums(matrix)
        safe = np.maximum(count, 1.0)
        s2 = _before(np.square(shifted))
        # Chan's formula around the reference (= the running mean when there is one)
        # simplifies to these two lines.
        mean = np.where(count > 0, reference + s1 / safe, 0.0)
        m2 = self.m2 + np.maximum(s2 - s1 * s1 / safe, 0.0)
        return count, mean, m2

    def prefix_mean(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(count, mean)`` of :meth:`prefix`, without the cost of the second moment."""
        count, reference, _, s1 = self._shifted_sums(matrix)
        return count, np.where(count > 0, reference + s1 / np.maximum(count, 1.0), 0.0)

    def start(self, width: int) -> None:
        """Set the number of columns (zero statistics), unless it is already set."""
        if len(self.count) == 0:
            self.count, self.mean, self.m2 = np.zeros(width), np.zeros(width), np.zeros(width)

    def _combine(self, count: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        total = self.count + count
        safe = np.maximum(total, 1.0)
        delta = mean - self.mean
        self.mean = self.mean + delta * count / safe
        self.m2 = self.m2 + m2 + delta * delta * self.count * count / safe
        self.count = total

    def _shifted_sums(
        self, matrix: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        # Values shifted by a reference (the running mean, else the column's first value in
        # the batch), NaNs as 0; with the count and the shifted sum before each row.
        self.start(matrix.shape[1])
        n = len(matrix)
        seen = ~np.isnan(matrix)
        if seen.all():  # the common case after imputation: no masking needed
            first = matrix[0] if n else np.zeros(matrix.shape[1])
            reference = np.where(self.count > 0, self.mean, first)
            shifted = matrix - reference
            count = self.count + np.arange(n, dtype=np.float64)[:, None]
        else:
            column = range(matrix.shape[1])
            first = np.where(seen.any(axis=0), matrix[seen.argmax(axis=0), column], 0.0)
            reference = np.where(self.count > 0, self.mean, first)
            shifted = np.where(seen, matrix - reference, 0.0)
            count = self.count + _before(seen.astype(np.float64))
        return count, reference, shifted, _before(shifted)


def _before(values: np.ndarray) -> np.ndarray:
    # Exclusive cumulative sum down the rows: row i gets the sum of rows 0 .. i-1.
    out = np.zeros_like(values)
    np.cumsum(values[:-1], axis=0, out=out[1:])
    return out
