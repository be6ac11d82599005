"""Selection policies: which candidate model serves each prediction.

A policy chooses an arm (a candidate's index) per event with :meth:`choose` and learns from the
rewards of chosen or revealed arms with :meth:`update`. All bookkeeping is vectorized over a
batch; randomness comes from ``seed``.

>>> p = EpsilonGreedy(["a", "b"], epsilon=0.0, seed=1)
>>> p.update([0, 1, 1], [0.0, 1.0, 1.0])
>>> p.choose(3).tolist()
[1, 1, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from online_models.errors import ModelError

__all__ = ["EpsilonGreedy"]


class EpsilonGreedy:
    """Serve the arm with the best mean reward; explore a random arm with probability epsilon.

    Args:
        arms: the candidates' names.
        epsilon: exploration probability, in [0, 1].
        seed: seed of the policy's random generator.
    """

    def __init__(self, arms: Sequence[str], epsilon: float = 0.1, seed: int = 0) -> None:
        if not arms:
            raise ModelError("selection policy: needs at least one model")
        if not 0.0 <= epsilon <= 1.0:
            raise ModelError(f"selection.epsilon: expected a number in [0, 1], got {epsilon!r}")
        self.arms = list(arms)
        self.epsilon = epsilon
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.counts = np.zeros(len(self.arms))
        self.sums = np.zeros(len(self.arms))
        self.chosen = np.zeros(len(self.arms), dtype=np.int64)

    def means(self) -> np.ndarray:
        return np.divide(
            self.sums, self.counts, out=np.zeros_like(self.sums), where=self.counts > 0
        )

    def choose(self, n: int) -> np.ndarray:
        """Arms for the next ``n`` events (ties between means go to the first arm)."""
        explore = self._rng.random(n) < self.epsilon
        random_arms = self._rng.integers(0, len(self.arms), size=n)
        arms = np.where(explore, random_arms, int(np.argmax(self.means())))
        self.chosen += np.bincount(arms, minlength=len(self.arms))
        return arms

    def update(
        self, arms: Sequence[int] | np.ndarray, rewards: Sequence[float] | np.ndarray
    ) -> None:
        idx = np.asarray(arms, dtype=np.int64)
        np.add.at(self.counts, idx, 1.0)
        np.add.at(self.sums, idx, np.asarray(rewards, dtype=float))

    def summary(self) -> dict[str, Any]:
        means = self.means()
        return {
            name: {"chosen": int(c), "mean_reward": float(m)}
            for name, c, m in zip(self.arms, self.chosen, means)
        }
