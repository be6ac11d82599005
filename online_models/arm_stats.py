"""Per-arm statistics of a reward stream that forget the past: plain, discounted or windowed.

Time advances by *steps*, one per label. A step carries a row with one value per arm, NaN
where the arm has no observation: with bandit feedback only the served arm's reward, with full
feedback every arm's that predicted. So forgetting is counted in labels whatever the feedback.

- plain: every observation weighs 1 forever;
- discounted (``gamma``): at each step every weight is multiplied by ``gamma`` before the new
  row is added, so an observation made ``s`` steps ago weighs ``gamma ** s``
  (Kocsis & Szepesvari 2006; Garivier & Moulines 2011, D-UCB);
- windowed (``window``): only the rows of the last ``window`` steps count
  (Garivier & Moulines 2011, SW-UCB). The rows are kept in a ring; each step subtracts the
  row that leaves and adds the one that comes, and every ``window`` steps the totals are
  recomputed from the ring in step order, so rounding never accumulates beyond one window.

Every operation is sequential, step after step, so the floats are bit for bit the same however
the steps are grouped into batches. :func:`stats_step` is the compiled step the serving loops
call; :meth:`ArmStats.add` runs it over rows.

>>> s = ArmStats(2, window=2)
>>> s.add([[1.0, np.nan], [0.0, np.nan], [np.nan, 1.0]])
>>> s.counts.tolist(), s.means().tolist(), s.steps
([1.0, 1.0], [0.0, 1.0], 3)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from online_models.errors import ModelError
from online_models.validate import integer, number, values

__all__ = ["ArmStats", "stats_step"]


class ArmStats:
    """Weighted count, sum and sum of squares of the values observed for each arm.

    Args:
        n_arms: number of arms.
        gamma: discount factor per step, in (0, 1); None for no discounting.
        window: number of most recent steps kept; None for no window.

    Raises:
        ModelError: when both ``gamma`` and ``window`` are set, or either is out of range.
    """

    def __init__(self, n_arms: int, gamma: float | None = None, window: int | None = None) -> None:
        if gamma is not None and window is not None:
            raise ModelError(
                f"selection.gamma and selection.window: expected at most one of them, "
                f"got gamma={gamma!r} and window={window!r}"
            )
        self.n_arms = integer("selection.arms", n_arms, low=1)
        self.gamma = gamma
        if gamma is not None:
            number("selection.gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
        self.window = None if window is None else integer("selection.window", window, low=1)
        self.counts: np.ndarray = np.zeros(self.n_arms)
        self.sums: np.ndarray = np.zeros(self.n_arms)
        self.squares: np.ndarray = np.zeros(self.n_arms)
        self.ring = np.full((self.window or 0, self.n_arms), np.nan)  # windowed: the kept rows
        self.clock = np.zeros(1, dtype=np.int64)  # steps so far

    @property
    def steps(self) -> int:
        """Steps (labels) so far."""
        return int(self.clock[0])

    @property
    def discount(self) -> float:
        """The per-step factor passed to :func:`stats_step`: ``gamma``, or 0 for none."""
        return 0.0 if self.gamma is None else float(self.gamma)

    def add(self, rows: Sequence[Sequence[float]] | np.ndarray) -> None:
        """Advance one step per row and record each row's values (NaN: no observation)."""
        r = values("ArmStats.add(rows)", rows, (None, self.n_arms), allow_nan=True)
        _add_rows(self.counts, self.sums, self.squares, self.ring, self.clock, self.discount, r)

    def means(self) -> np.ndarray:
        """Mean value of each arm (0 for an arm with no weight)."""
        return np.divide(self.sums, self.counts, out=np.zeros(self.n_arms), where=self.counts > 0)


@njit(cache=True, inline="always")
def stats_step(
    counts: np.ndarray,
    sums: np.ndarray,
    squares: np.ndarray,
    ring: np.ndarray,
    clock: np.ndarray,
    discount: float,
    row: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """One step: forget (discount or window), then add the row's non-NaN values."""
    k = counts.shape[0]
    window = ring.shape[0]
    if discount > 0.0:
        for a in range(k):
            counts[a] *= discount
            sums[a] *= discount
            squares[a] *= discount
    if window > 0:
        pos = clock[0] % window
        if clock[0] >= window:
            for a in range(k):
                old = ring[pos, a]
                if not np.isnan(old):
                    counts[a] -= 1.0
                    sums[a] -= old
                    squares[a] -= old * old
        for a in range(k):
            ring[pos, a] = row[a]
    for a in range(k):
        v = row[a]
        if not np.isnan(v):
            counts[a] += 1.0
            sums[a] += v
            squares[a] += v * v
    clock[0] += 1
    if window > 0 and clock[0] % window == 0:
        for a in range(k):  # the ring is full and in step order: exact totals again
            c = 0.0
            s = 0.0
            q = 0.0
            for t in range(window):
                v = ring[t, a]
                if not np.isnan(v):
                    c += 1.0
                    s += v
                    q += v * v
            counts[a] = c
            sums[a] = s
            squares[a] = q


@njit(cache=True)
def _add_rows(
    counts: np.ndarray,
    sums: np.ndarray,
    squares: np.ndarray,
    ring: np.ndarray,
    clock: np.ndarray,
    discount: float,
    rows: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for i in range(rows.shape[0]):
        stats_step(counts, sums, squares, ring, clock, discount, rows[i])
