"""Column-wise scaling of float matrices (n_events x n_columns), a batch at a time.

Every scaler has ``transform_then_learn(matrix)``, the prequential order of a stream: each row
is scaled with statistics of the rows before it, never its own. Every output and every state is
a function of the sequence of rows only, bit for bit the same whatever the cut of the stream
into batches (batches of 1, 7 or 1000 rows, or random cuts):

* :class:`StandardScaler` learns one row at a time in a compiled loop (Welford, the recurrence
  of River's ``preprocessing.StandardScaler``): row ``i`` is scaled with the mean and variance
  of every row before it, the earlier rows of its batch included, and equals River's
  ``transform_one`` then ``learn_one`` per event (which is what a River pipeline's
  ``predict_one`` sees) to the last bit or so (its state equals River's bit for bit).
* :class:`MinMaxScaler` keeps running minima and maxima (exact operations), also per row.
* :class:`RobustScaler` and :class:`QuantileBinner` use quantile sketches, which learn the
  stream in blocks fixed by stream position (:class:`operators.columns.RowBlocks`): rows
  ``[0, 1)``, ``[1, 2)``, ``[2, 4)``, ... ``[block/2, block)`` while the stream is young, then
  ``[k * block, (k + 1) * block)``. A row is scaled with the sketches as of the start of its
  block (every block before it learned, none of its own block), and a block is learned when
  its last row arrives; the rows of a block still open wait in the scaler's state.

Statistics ignore NaN and a NaN input gives a NaN output. Before any statistics exist, and
wherever the spread is zero, StandardScaler and MinMaxScaler output 0 (as River does).

>>> s = StandardScaler()
>>> s.transform_then_learn(np.array([[1.0], [3.0], [5.0]])).ravel().tolist()
[0.0, 0.0, 3.0]
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from operators.columns import ColumnOperator, RowBlocks
from operators.errors import OperatorError, check_float, check_int
from operators.moments import RunningMoments
from operators.quantiles import ColumnSketches

__all__ = ["StandardScaler", "MinMaxScaler", "SignedLog1p", "RobustScaler", "QuantileBinner"]


def _clip(values: np.ndarray, bound: float | None) -> np.ndarray:
    return values if bound is None else np.clip(values, -bound, bound)


class StandardScaler(ColumnOperator):
    """Standardizes each column with its running mean and (population) standard deviation.

    Args:
        clip: if set, outputs are clipped to ``[-clip, clip]`` standard deviations.

    Attributes:
        moments: the running count, mean and variance of each column (:class:`RunningMoments`).

    >>> s = StandardScaler(clip=1.0)
    >>> s.learn(np.array([[0.0], [2.0]]))
    >>> s.transform(np.array([[1.0], [2.0], [9.0], [np.nan]])).ravel().tolist()
    [0.0, 1.0, 1.0, nan]
    """

    def __init__(self, clip: float | None = None) -> None:
        self.clip = None if clip is None else check_float("StandardScaler", "clip", clip, 0.0)
        self.moments = RunningMoments()

    def learn(self, matrix: np.ndarray) -> None:
        """Update the statistics with a batch, row by row (NaNs ignored)."""
        self.moments.learn(self._matrix(matrix))

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Scale a batch with the current statistics, without learning it."""
        x = self._matrix(matrix)
        self.moments.start(x.shape[1])
        return self._scale(x, self.moments.mean, self.moments.var)

    def transform_then_learn(self, matrix: np.ndarray) -> np.ndarray:
        """Scale each row with the statistics of all rows before it, learning row by row.

        Returns:
            A new array: ``(x - mean) / std`` per row and column, 0 where ``std`` is 0.
        """
        x = self._matrix(matrix)
        return self._scale(x, *self.moments.prefix_then_learn(x))

    def merge(self, other: StandardScaler) -> StandardScaler:
        """A scaler with the statistics of both streams (Chan's formula); neither changes.

        Raises:
            OperatorError: if ``other`` is not a StandardScaler of the same width.
        """
        widths = (self.width, getattr(other, "width", None))
        if not isinstance(other, StandardScaler) or None not in widths and len(set(widths)) > 1:
            message = f"StandardScaler: merge expects a StandardScaler of width {self.width}"
            raise OperatorError(message)
        out = StandardScaler(self.clip)
        out.width = self.width if self.width is not None else other.width
        out.moments = self.moments.merge(other.moments)
        return out

    def _scale(self, x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
        z = np.divide(x - mean, np.sqrt(var), out=np.zeros(x.shape), where=var > 0)
        z[np.isnan(x)] = np.nan
        return _clip(z, self.clip)


class MinMaxScaler(ColumnOperator):
    """Maps each column to [0, 1] with its running minimum and maximum.

    Args:
        clip: if True, values outside the range seen so far are clipped to [0, 1].

    >>> s = MinMaxScaler()
    >>> s.transform_then_learn(np.array([[2.0], [4.0], [3.0], [8.0]])).ravel().tolist()
    [0.0, 0.0, 0.5, 3.0]
    """

    def __init__(self, clip: bool = False) -> None:
        self.clip = bool(clip)
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None

    def learn(self, matrix: np.ndarray) -> None:
        """Update the minima and maxima with a batch (NaNs ignored)."""
        x = self._matrix(matrix)
        low, high = self._bounds(x.shape[1])
        self.low = np.fmin(low, np.fmin.reduce(x, axis=0, initial=np.nan))
        self.high = np.fmax(high, np.fmax.reduce(x, axis=0, initial=np.nan))

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Scale a batch with the current minima and maxima, without learning it."""
        x = self._matrix(matrix)
        low, high = self._bounds(x.shape[1])
        return self._scale(x, low, high)

    def transform_then_learn(self, matrix: np.ndarray) -> np.ndarray:
        """Scale each row with the minima and maxima of all rows before it, then learn.

        Returns:
            A new array: ``(x - min) / (max - min)``, 0 where ``max == min`` or nothing is known.
        """
        x = self._matrix(matrix)
        low, high = self._bounds(x.shape[1])
        lows = np.fmin.accumulate(np.vstack((low, x)), axis=0)
        highs = np.fmax.accumulate(np.vstack((high, x)), axis=0)
        self.low, self.high = lows[-1].copy(), highs[-1].copy()  # not views of the batch
        return self._scale(x, lows[:-1], highs[:-1])

    def _bounds(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        if self.low is None or self.high is None:
            return np.full(width, np.nan), np.full(width, np.nan)
        return self.low, self.high

    def _scale(self, x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        span = high - low
        known = span > 0
        out = np.divide(x - low, span, out=np.zeros(x.shape), where=known)
        out[np.isnan(x)] = np.nan
        return np.clip(out, 0.0, 1.0) if self.clip else out


class SignedLog1p:
    """``sign(x) * log1p(|x|)``: a stateless, sign-preserving log for heavy-tailed columns.

    >>> SignedLog1p().transform_then_learn(np.array([[-np.e + 1, 0.0, np.nan]])).tolist()
    [[-1.0, 0.0, nan]]
    """

    def transform_then_learn(self, matrix: np.ndarray) -> np.ndarray:
        """Return ``sign(x) * log1p(|x|)`` of the batch (there is nothing to learn)."""
        x = np.asarray(matrix, dtype=np.float64)
        return np.sign(x) * np.log1p(np.abs(x))


class _SketchScaler(ColumnOperator, ABC):
    """A scaler whose statistics are column quantiles, learned in blocks (see the module)."""

    def __init__(self, k: int, seed: int, block: int) -> None:
        owner = type(self).__name__
        self.k = check_int(owner, "k", k, minimum=8)
        self.seed = check_int(owner, "seed", seed, minimum=0)
        self.block = check_int(owner, "block", block, minimum=1)
        self.sketches = ColumnSketches(k, seed)
        self.blocks = RowBlocks(block)
        self._stats: np.ndarray | None = None  # the quantiles in use, one row per probability

    def learn(self, matrix: np.ndarray) -> None:
        """Offer a batch to the sketches, which learn every block it completes (NaNs ignored)."""
        x = self._matrix(matrix)
        self._current(x.shape[1])
        for _, block in self.blocks.split(x):
            if block is not None:
                self._learn_block(block)

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Transform a batch with the statistics in use, without learning it."""
        x = self._matrix(matrix)
        return self._apply(x, self._current(x.shape[1]))

    def transform_then_learn(self, matrix: np.ndarray) -> np.ndarray:
        """Transform each row with the sketches as of the start of its block, learning blocks.

        Returns:
            A new array shaped like the batch.
        """
        x = self._matrix(matrix)
        out = np.empty(x.shape)
        for rows, block in self.blocks.split(x):
            out[rows] = self._apply(x[rows], self._current(x.shape[1]))
            if block is not None:
                self._learn_block(block)
        return out

    def _learn_block(self, block: np.ndarray) -> None:
        self.sketches.update(block)
        self._stats = self.sketches.quantiles(self._probabilities(), block.shape[1])

    def _current(self, width: int) -> np.ndarray:
        if self._stats is None:
            self._stats = self.sketches.quantiles(self._probabilities(), width)
        return self._stats

    @abstractmethod
    def _probabilities(self) -> np.ndarray:
        """The quantiles the transform needs."""

    @abstractmethod
    def _apply(self, x: np.ndarray, stats: np.ndarray) -> np.ndarray:
        """Transform rows with the given quantiles (one row per probability)."""


class RobustScaler(_SketchScaler):
    """Centers each column on its median and divides by its interquartile range.

    Medians and quartiles come from one KLL sketch per column, as of the start of the row's
    block (see the module). A column with an interquartile range of 0 is only centered
    (divided by 1, as scikit-learn does); a column with no value yet gives 0.

    Args:
        clip: if set, outputs are clipped to ``[-clip, clip]`` interquartile ranges.
        k: accuracy parameter of the sketches (>= 8).
        seed: seed of the sketches (>= 0).
        block: rows per block of the sketches once the stream is that long (>= 1).

    Row 0 sees nothing, row 1 the block {1}, rows 2-3 the blocks {1, 2}, rows 4-7 {1, 2, 3, 4}:

    >>> s = RobustScaler(block=4)
    >>> s.transform_then_learn(np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])).ravel().tolist()
    [0.0, 1.0, 3.0, 5.0, 1.6666666666666667]
    >>> s.transform_then_learn(np.array([[4.0], [2.5]])).ravel().tolist()
    [1.0, 0.0]
    """

    def __init__(
        self, clip: float | None = None, k: int = 200, seed: int = 0, block: int = 256
    ) -> None:
        super().__init__(k, seed, block)
        self.clip = None if clip is None else check_float("RobustScaler", "clip", clip, 0.0)

    def _probabilities(self) -> np.ndarray:
        return np.array([0.25, 0.5, 0.75])

    def _apply(self, x: np.ndarray, stats: np.ndarray) -> np.ndarray:
        low, median, high = stats
        spread = high - low
        scale = np.where(spread > 0, spread, 1.0)
        out = np.where(np.isnan(median), 0.0, (x - median) / scale)
        out[np.isnan(x)] = np.nan
        return _clip(out, self.clip)


class QuantileBinner(_SketchScaler):
    """Replaces each value by the index of its quantile bin (0 .. bins-1), as a float.

    The bin edges are the ``1/bins .. (bins-1)/bins`` quantiles of the column's sketch as of
    the start of the row's block (see the module); a value equal to an edge goes to the bin
    above it. Before any value, everything is in bin 0.

    Args:
        bins: the number of bins (>= 2).
        k: accuracy parameter of the sketches (>= 8).
        seed: seed of the sketches (>= 0).
        block: rows per block of the sketches once the stream is that long (>= 1).

    >>> b = QuantileBinner(bins=4, block=8)
    >>> b.learn(np.arange(1.0, 9.0).reshape(-1, 1))
    >>> b.transform(np.array([[0.0], [3.0], [5.0], [100.0], [np.nan]])).ravel().tolist()
    [0.0, 1.0, 2.0, 3.0, nan]
    """

    def __init__(self, bins: int = 10, k: int = 200, seed: int = 0, block: int = 256) -> None:
        super().__init__(k, seed, block)
        self.bins = check_int("QuantileBinner", "bins", bins, minimum=2)

    def edges(self, width: int) -> np.ndarray:
        """The bin edges in use: a ``(bins - 1) x width`` array (NaN before any value)."""
        return self._current(width).copy()

    def _probabilities(self) -> np.ndarray:
        return np.arange(1, self.bins) / self.bins

    def _apply(self, x: np.ndarray, edges: np.ndarray) -> np.ndarray:
        out = (x[:, None, :] >= edges[None, :, :]).sum(axis=1).astype(np.float64)
        out[np.isnan(x)] = np.nan
        return out
