"""Running count, mean and variance per column, learned one row at a time (Welford).

Each non-NaN value updates its column with the recurrence of River's ``StandardScaler``
(``mean += (x - mean) / n``, ``var += ((x - old_mean) * (x - mean) - var) / n``) in a compiled
loop over the rows in stream order. The statistics after a stream, and the statistics before
each row that :meth:`RunningMoments.prefix_then_learn` reports, are therefore a function of the
sequence of values only: bit for bit the same whatever the cut of the stream into batches, and
the same floating-point numbers as River's scaler (whose state they equal bit for bit).
:meth:`RunningMoments.merge` combines two shards with Chan's parallel formula.

>>> m = RunningMoments()
>>> m.learn(np.array([[1.0], [2.0], [np.nan], [3.0]]))
>>> (m.count.tolist(), m.mean.tolist(), m.var.tolist())
([3.0], [2.0], [0.6666666666666667])
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["RunningMoments"]


@njit(cache=True)
def _welford(
    x: np.ndarray,
    count: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    mean_before: np.ndarray,
    var_before: np.ndarray,
    keep: bool,
) -> None:
    # Row by row, column by column: record the statistics before the value (if keep), learn it.
    n, d = x.shape
    for i in range(n):
        for j in range(d):
            if keep:
                mean_before[i, j] = mean[j] if count[j] > 0 else np.nan
                var_before[i, j] = var[j]
            v = x[i, j]
            if np.isnan(v):
                continue
            count[j] += 1.0
            old = mean[j]
            mean[j] += (v - old) / count[j]
            var[j] += ((v - old) * (v - mean[j]) - var[j]) / count[j]


class RunningMoments:
    """Count, mean and (population) variance of the non-NaN values of each column.

    The number of columns is set by the first batch. Before any value, a column's count,
    mean and variance are 0.

    Attributes:
        count: values seen per column (float64).
        mean: running mean per column.
        var: running population variance (ddof 0) per column.

    >>> m = RunningMoments()
    >>> mean, var = m.prefix_then_learn(np.array([[2.0], [4.0], [9.0]]))
    >>> (mean.ravel().tolist(), var.ravel().tolist(), m.mean.tolist())
    ([nan, 2.0, 3.0], [0.0, 0.0, 1.0], [5.0])
    """

    def __init__(self) -> None:
        self.count = np.zeros(0)
        self.mean = np.zeros(0)
        self.var = np.zeros(0)

    def learn(self, matrix: np.ndarray) -> None:
        """Add a batch (n_events x n_columns) row by row; NaNs are ignored.

        Args:
            matrix: the batch, with as many columns as the earlier ones.
        """
        self._run(matrix, keep=False)

    def prefix_then_learn(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The statistics before each row of a batch, then learn the batch.

        Args:
            matrix: the batch (n_events x n_columns), NaN where a value is missing.

        Returns:
            ``(mean, var)``, each n_events x n_columns: row ``i`` holds the mean (NaN while
            the column has no value) and the variance of the column's values before row ``i``
            in the stream (the earlier rows of the batch included).
        """
        return self._run(matrix, keep=True)

    def merge(self, other: RunningMoments) -> RunningMoments:
        """The moments of the union of both streams (Chan's formula); neither input changes.

        Args:
            other: moments of another stream with the same columns (or none yet).

        Returns:
            New moments.
        """
        out = RunningMoments()
        out.count, out.mean, out.var = self.count.copy(), self.mean.copy(), self.var.copy()
        if not len(other.count):
            return out
        out.start(len(other.count))
        total = out.count + other.count
        safe = np.maximum(total, 1.0)
        delta = other.mean - out.mean
        m2 = out.var * out.count + other.var * other.count
        m2 += delta * delta * out.count * other.count / safe
        out.mean = out.mean + delta * other.count / safe
        out.var = np.where(total > 0, m2 / safe, 0.0)
        out.count = total
        return out

    def start(self, width: int) -> None:
        """Set the number of columns (zero statistics), unless it is already set."""
        if len(self.count) == 0:
            self.count, self.mean, self.var = np.zeros(width), np.zeros(width), np.zeros(width)

    def _run(self, matrix: np.ndarray, keep: bool) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(matrix, dtype=np.float64)
        self.start(x.shape[1])
        shape = x.shape if keep else (0, 0)
        mean_before, var_before = np.empty(shape), np.empty(shape)
        _welford(x, self.count, self.mean, self.var, mean_before, var_before, keep)
        return mean_before, var_before
