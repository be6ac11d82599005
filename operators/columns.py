"""The base of the column-wise operators, which work on float matrices (n_events x n_columns),
and the block rule of the statistics that cannot be updated one row at a time.

The first batch sets the number of columns; a later batch of another width is a usage error.
A missing value is NaN. Statistics kept in sketches (quantiles, frequent values) learn the
stream in blocks whose bounds depend on stream positions only (:class:`RowBlocks`), so that no
result depends on how the stream is cut into batches.

>>> class Double(ColumnOperator):
...     def run(self, matrix):
...         return 2 * self._matrix(matrix)
>>> d = Double()
>>> d.run([[1.0, 2.0]]).tolist(), d.width
([[2.0, 4.0]], 2)
>>> d.run([[1.0]])
Traceback (most recent call last):
...
operators.errors.OperatorError: Double: input must be a 2-D array of 2 columns, got shape (1, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from operators.errors import OperatorError, check_int

__all__ = ["ColumnOperator", "RowBlocks", "block_end"]


class ColumnOperator:
    """Remembers the width of the first matrix and checks every later one against it.

    Attributes:
        width: the number of columns, or None before the first batch.
    """

    width: int | None = None

    def _matrix(self, matrix: Any) -> np.ndarray:
        """Return ``matrix`` as a 2-D float64 array of the operator's width, else raise.

        The array is the input itself when it already is one; operators never write into it.
        """
        owner = type(self).__name__
        try:
            array = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError) as error:
            message = f"{owner}: input must be a 2-D array of numbers ({error})"
            raise OperatorError(message) from None
        if array.ndim != 2 or (self.width is not None and array.shape[1] != self.width):
            columns = "any number of" if self.width is None else str(self.width)
            message = (
                f"{owner}: input must be a 2-D array of {columns} columns, got shape {array.shape}"
            )
            raise OperatorError(message)
        self.width = array.shape[1]
        return array


def block_end(position: int, block: int) -> int:
    """The end of the block that holds stream row ``position`` (see :class:`RowBlocks`).

    >>> [block_end(p, 8) for p in (0, 1, 2, 3, 4, 7, 8, 15, 16)]
    [1, 2, 4, 4, 8, 8, 16, 16, 24]
    """
    if position < block:
        return min(block, 1 << position.bit_length())
    return (position // block + 1) * block


class RowBlocks:
    """Cuts the rows of a stream into the blocks a block-updated statistic learns.

    The rule depends on stream positions only: while the stream is young the blocks double
    (rows ``[0, 1)``, ``[1, 2)``, ``[2, 4)``, ``[4, 8)``, ... up to ``block``), then every block
    holds ``block`` rows, ``[k * block, (k + 1) * block)``. A statistic learns a block when its
    last row arrives, and transforms each row with what it knew at the start of the row's block,
    so its output and state are the same for any cut of the stream into batches. The rows of
    the open block wait here (at most ``block - 1`` of them).

    Args:
        block: rows per block once the stream is ``block`` rows long (>= 1).

    Attributes:
        seen: rows offered so far.

    >>> blocks = RowBlocks(block=4)
    >>> [(s.start, s.stop, None if b is None else b.ravel().tolist())
    ...  for s, b in blocks.split(np.arange(6.0).reshape(-1, 1))]
    [(0, 1, [0.0]), (1, 2, [1.0]), (2, 4, [2.0, 3.0]), (4, 6, None)]
    >>> [(s.start, s.stop, b.ravel().tolist()) for s, b in blocks.split(np.array([[6.0], [7.0]]))]
    [(0, 2, [4.0, 5.0, 6.0, 7.0])]
    """

    def __init__(self, block: int) -> None:
        self.block = check_int("RowBlocks", "block", block, minimum=1)
        self.seen = 0
        self._open: np.ndarray | None = None  # rows of the open block (a copy)

    def split(self, matrix: np.ndarray) -> list[tuple[slice, np.ndarray | None]]:
        """Cut a batch at the block ends it reaches.

        Args:
            matrix: the batch's rows, in stream order.

        Returns:
            ``(rows, block)`` per segment of the batch, in order: ``rows`` slices the batch,
            ``block`` is the whole block that the segment completes (new array), or None when
            the segment leaves its block open. Transform ``matrix[rows]``, then learn ``block``.
        """
        out: list[tuple[slice, np.ndarray | None]] = []
        lo, n = 0, len(matrix)
        while lo < n:
            end = block_end(self.seen, self.block)
            hi = min(n, lo + end - self.seen)
            part = matrix[lo:hi]
            rows = part if self._open is None else np.concatenate((self._open, part))
            self.seen += hi - lo
            if self.seen == end:
                self._open = None
                out.append((slice(lo, hi), np.array(rows, dtype=np.float64, order="C")))
            else:
                self._open = np.array(rows, dtype=np.float64, order="C")
                out.append((slice(lo, hi), None))
            lo = hi
        return out
