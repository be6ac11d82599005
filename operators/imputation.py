"""Filling missing values (NaN) column by column, with statistics learned from the stream.

Like the scalers, :meth:`Imputer.transform_then_learn` never uses a row's own value for that
row, and its output and state are bit for bit the same whatever the cut of the stream into
batches: ``mean`` fills row ``i`` with the mean of the column's values in all rows before it
(learned one row at a time, see :mod:`operators.moments`); ``median`` (from a KLL sketch per
column) and ``most_frequent`` (exact counts of up to ``capacity`` distinct values per column,
then a Misra-Gries summary) learn the stream in blocks fixed by stream position
(:class:`operators.columns.RowBlocks`: rows ``[0, 1)``, ``[1, 2)``, ``[2, 4)``, ... then every
``block`` rows) and fill a row with the statistic as of the start of its block; ``constant``
always fills ``fill_value``. Until a column has a value, ``fill_value`` (or 0.0 when it is None)
is used.

>>> imp = Imputer("mean", indicator=True)
>>> imp.transform_then_learn(np.array([[1.0], [np.nan], [3.0], [np.nan]])).tolist()
[[1.0, 0.0], [1.0, 1.0], [3.0, 0.0], [2.0, 1.0]]
>>> imp.names(["age"])
('age', 'age__missing')
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from operators.columns import ColumnOperator, RowBlocks
from operators.errors import OperatorError, check_choice, check_int
from operators.frequency import FrequentItems
from operators.moments import RunningMoments
from operators.quantiles import ColumnSketches

__all__ = ["STRATEGIES", "Imputer"]

STRATEGIES = ("mean", "median", "most_frequent", "constant")


class _Statistic(Protocol):
    def fills_then_learn(self, x: np.ndarray) -> np.ndarray: ...


class _Mean:
    def __init__(self) -> None:
        self.moments = RunningMoments()

    def fills_then_learn(self, x: np.ndarray) -> np.ndarray:
        return self.moments.prefix_then_learn(x)[0]


class _Blocked(ABC):
    """A statistic learned block by block; a row is filled with its value at the block's start."""

    def __init__(self, block: int) -> None:
        self.blocks = RowBlocks(block)
        self.fills: np.ndarray | None = None  # the value in use, per column

    def fills_then_learn(self, x: np.ndarray) -> np.ndarray:
        if self.fills is None:
            self.fills = np.full(x.shape[1], np.nan)
        out = np.empty(x.shape)
        for rows, block in self.blocks.split(x):
            out[rows] = self.fills
            if block is not None:
                self.learn(block)
                self.fills = self.current()
        return out

    @abstractmethod
    def learn(self, block: np.ndarray) -> None:
        """Learn a block of rows (NaNs ignored)."""

    @abstractmethod
    def current(self) -> np.ndarray:
        """The statistic of each column (NaN for a column without values)."""


class _Median(_Blocked):
    def __init__(self, k: int, seed: int, block: int) -> None:
        super().__init__(block)
        self.sketches = ColumnSketches(k, seed)

    def learn(self, block: np.ndarray) -> None:
        self.sketches.update(block)

    def current(self) -> np.ndarray:
        return self.sketches.quantiles([0.5], len(self.sketches.sketches))[0]


class _MostFrequent(_Blocked):
    def __init__(self, capacity: int, block: int) -> None:
        super().__init__(block)
        self.capacity = capacity
        self.columns: list[FrequentItems] = []

    def learn(self, block: np.ndarray) -> None:
        if not self.columns:
            self.columns = [FrequentItems(self.capacity) for _ in range(block.shape[1])]
        for j, column in enumerate(self.columns):
            values, counts = np.unique(block[~np.isnan(block[:, j]), j], return_counts=True)
            column.add(values.tolist(), counts.tolist())

    def current(self) -> np.ndarray:
        modes = [c.most_frequent() for c in self.columns]
        return np.array([np.nan if m is None else m for m in modes], dtype=np.float64)


class _Constant:
    def fills_then_learn(self, x: np.ndarray) -> np.ndarray:
        return np.full(x.shape[1], np.nan)


class Imputer(ColumnOperator):
    """Fills the NaNs of each column, optionally adding a missingness indicator per column.

    Args:
        strategy: ``"mean"``, ``"median"``, ``"most_frequent"`` or ``"constant"``.
        fill_value: the value for ``"constant"`` (required); for the other strategies, the
            value used while a column has no statistics yet (default 0.0).
        indicator: if True, the output gets one more column per input column, 1.0 where the
            input was missing, named ``f"{column}__missing"`` by :meth:`names`.
        k: accuracy parameter of the median sketches (>= 8).
        seed: seed of the median sketches (>= 0).
        capacity: distinct values counted exactly per column by ``"most_frequent"`` (>= 1).
        block: rows per block of ``"median"`` and ``"most_frequent"`` once the stream is that
            long (>= 1; see the module).

    >>> imp = Imputer("constant", fill_value=-1.0)
    >>> imp.transform_then_learn(np.array([[np.nan, 2.0]])).tolist()
    [[-1.0, 2.0]]
    """

    def __init__(
        self,
        strategy: str = "mean",
        fill_value: float | None = None,
        indicator: bool = False,
        k: int = 200,
        seed: int = 0,
        capacity: int = 1024,
        block: int = 256,
    ) -> None:
        self.strategy = check_choice("Imputer", "strategy", strategy, STRATEGIES)
        if fill_value is None and strategy == "constant":
            message = "Imputer: fill_value must be a finite number for strategy 'constant'"
            raise OperatorError(message)
        if fill_value is not None and not (
            isinstance(fill_value, (int, float)) and math.isfinite(fill_value)
        ):
            message = f"Imputer: fill_value must be a finite number or None, got {fill_value!r}"
            raise OperatorError(message)
        self.fill_value = fill_value
        self.indicator = bool(indicator)
        self.k = check_int("Imputer", "k", k, minimum=8)
        self.seed = check_int("Imputer", "seed", seed, minimum=0)
        self.capacity = check_int("Imputer", "capacity", capacity, minimum=1)
        self.block = check_int("Imputer", "block", block, minimum=1)
        statistics: dict[str, Callable[[], _Statistic]] = {
            "mean": _Mean,
            "median": lambda: _Median(k, seed, block),
            "most_frequent": lambda: _MostFrequent(capacity, block),
            "constant": _Constant,
        }
        self._statistic = statistics[strategy]()

    def names(self, columns: Sequence[str]) -> tuple[str, ...]:
        """Output column names for input columns ``columns``.

        Returns:
            ``columns``, then ``f"{column}__missing"`` for each if ``indicator`` is set.
        """
        missing = [f"{c}__missing" for c in columns] if self.indicator else []
        return (*columns, *missing)

    def transform_then_learn(self, matrix: np.ndarray) -> np.ndarray:
        """Fill the batch's NaNs (see the module for which statistics), then learn the batch.

        Args:
            matrix: the batch (n_events x n_columns), NaN where a value is missing.

        Returns:
            A new array without NaNs: n_events x n_columns, or x 2 n_columns with indicators.
        """
        x = self._matrix(matrix)
        missing = np.isnan(x)
        fills = self._statistic.fills_then_learn(x)
        if missing.any():
            default = 0.0 if self.fill_value is None else float(self.fill_value)
            out = np.where(missing, np.where(np.isnan(fills), default, fills), x)
        else:
            out = x.copy()
        if self.indicator:
            out = np.hstack((out, missing.astype(np.float64)))
        return out
