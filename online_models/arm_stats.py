"""Per-arm statistics of a reward stream that forget the past: plain, discounted or windowed.

Time advances by *steps* (one step per event). A step may carry one observation (bandit
feedback: the served arm's reward) or one per arm (full feedback), so forgetting is measured in
events whatever the feedback.

- plain: every observation weighs 1 forever;
- discounted (``gamma``): an observation made ``s`` steps ago weighs ``gamma ** s``
  (Kocsis & Szepesvari 2006; Garivier & Moulines 2011, D-UCB);
- windowed (``window``): only observations of the last ``window`` steps count
  (Garivier & Moulines 2011, SW-UCB).

>>> s = ArmStats(2, window=2)
>>> s.add(np.array([0, 0, 1]), np.array([1.0, 0.0, 1.0]), np.arange(3), 3)
>>> s.counts.tolist(), s.means().tolist()
([1.0, 1.0], [0.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from online_models.errors import ModelError
from online_models.validate import integer, number

__all__ = ["ArmStats"]


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
        self.steps = 0
        self.counts: np.ndarray = np.zeros(self.n_arms)
        self.sums: np.ndarray = np.zeros(self.n_arms)
        self.squares: np.ndarray = np.zeros(self.n_arms)
        # the windowed mode keeps its observations: global step, arm, value
        self._at = np.zeros(0, dtype=np.int64)
        self._arms = np.zeros(0, dtype=np.int64)
        self._values = np.zeros(0)

    def add(self, arms: np.ndarray, values: np.ndarray, steps: np.ndarray, n_steps: int) -> None:
        """Record observations and advance time by ``n_steps``.

        Args:
            arms: arm of each observation (int array).
            values: value of each observation (float array, same length).
            steps: step of each observation within this batch, in ``[0, n_steps)``, non-decreasing.
            n_steps: number of steps (events) the batch covers.
        """
        if self.window is not None:
            keep_from = self.steps + n_steps - self.window
            at = np.concatenate([self._at, self.steps + steps])
            arms = np.concatenate([self._arms, arms])
            values = np.concatenate([self._values, values])
            kept = at >= keep_from
            self._at, self._arms, self._values = at[kept], arms[kept], values[kept]
            self.counts = np.bincount(self._arms, minlength=self.n_arms).astype(float)
            self.sums = np.bincount(self._arms, self._values, minlength=self.n_arms)
            self.squares = np.bincount(self._arms, self._values**2, minlength=self.n_arms)
        else:
            if self.gamma is None:
                weights = np.ones(len(arms))
            else:
                weights = self.gamma ** (n_steps - 1 - steps).astype(float)
                decay = self.gamma**n_steps
                self.counts *= decay
                self.sums *= decay
                self.squares *= decay
            self.counts += np.bincount(arms, weights, minlength=self.n_arms)
            self.sums += np.bincount(arms, weights * values, minlength=self.n_arms)
            self.squares += np.bincount(arms, weights * values**2, minlength=self.n_arms)
        self.steps += n_steps

    def means(self) -> np.ndarray:
        """Mean value of each arm (0 for an arm with no weight)."""
        return np.divide(self.sums, self.counts, out=np.zeros(self.n_arms), where=self.counts > 0)
