"""Latency budget: which candidates may serve a batch, given how long they take to predict.

Pure bookkeeping: the caller measures each candidate's prediction time for a batch (this module
never reads a clock) and passes it to :meth:`LatencyBudget.observe`. Times are turned into
milliseconds per event, so the budget does not depend on the batch size, and smoothed
(exponentially weighted) so one slow batch (a pause for garbage collection) does not flip a
candidate. A candidate whose latency per event exceeds ``budget_ms`` may not serve: the events
chosen for it go to the ``fallback`` (a fast model that always may serve). The swap itself is
done by the serving rule, per event: pass :meth:`LatencyBudget.allowed` and
:attr:`LatencyBudget.fallback_index` to its ``run`` (:mod:`online_models.serving`), then
:meth:`LatencyBudget.count_fallbacks` with what it returns. The verdict is wall-clock based, so
it may differ between two runs over the same stream. Optionally a latency
cost, ``cost_per_ms`` reward units per millisecond per event, is subtracted from rewards, so a
policy learns to trade accuracy for speed.

A candidate that no longer predicts is no longer measured: either keep measuring it (shadow
predictions, or a sample), or set ``expire_after`` so its estimate is forgotten after that many
batches without a measurement and it gets another chance.

>>> budget = LatencyBudget(["tree", "linear"], budget_ms=0.05, fallback="linear")
>>> budget.observe([80.0, 2.0], events=1000).tolist()  # 0.08 and 0.002 ms per event
[False, True]
>>> from online_models.deployment import Shadow
>>> served = Shadow(["tree", "linear"]).run([0, 0, 0], [[True, True]] * 3, [], [], [], [], [],
...     allowed=budget.allowed(), fallback=budget.fallback_index)
>>> served.chosen.tolist(), served.arms.tolist(), budget.count_fallbacks(served)
([0, 0, 0], [1, 1, 1], 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from online_models.errors import ModelError
from online_models.serving import Served
from online_models.validate import arm_indices, integer, name_index, names, number, values

__all__ = ["LatencyBudget"]


class LatencyBudget:
    """Per-candidate latency against a budget, with a fallback and an optional reward cost.

    Args:
        models: the candidates' names (arm indices index them).
        budget_ms: most milliseconds per event a serving candidate may take, > 0.
        fallback: the model that serves instead of a candidate over budget.
        cost_per_ms: reward subtracted per millisecond per event by :meth:`penalize`, >= 0.
        smoothing: weight of a new measurement in the moving average, in (0, 1] (1: no memory).
        expire_after: batches without a measurement after which an estimate is forgotten;
            None to keep it until it is measured again.
    """

    def __init__(
        self,
        models: Sequence[str],
        budget_ms: float,
        fallback: str,
        *,
        cost_per_ms: float = 0.0,
        smoothing: float = 1.0,
        expire_after: int | None = None,
    ) -> None:
        self.models = names("latency.models", models)
        self.budget_ms = number("latency.budget_ms", budget_ms, low=0.0, low_open=True)
        self.fallback = fallback
        self._fallback = name_index("latency.fallback", fallback, self.models)
        self.cost_per_ms = number("latency.cost_per_ms", cost_per_ms, low=0.0)
        self.smoothing = number("latency.smoothing", smoothing, low=0.0, high=1.0, low_open=True)
        self.expire_after = expire_after
        if expire_after is not None:
            integer("latency.expire_after", expire_after, low=1)
        self.latency_ms = np.full(len(self.models), np.nan)  # per event, smoothed; NaN: unknown
        self.fallbacks = 0
        self._unmeasured = np.zeros(len(self.models), dtype=np.int64)

    def observe(self, batch_ms: Sequence[float] | np.ndarray, events: int) -> np.ndarray:
        """Take one batch's prediction times and return which candidates may serve.

        Args:
            batch_ms: milliseconds each candidate took to predict the batch; NaN for one that
                did not predict it.
            events: the number of events in the batch, >= 1.

        Returns:
            :meth:`allowed` after the update.
        """
        t = values("observe(batch_ms)", batch_ms, (len(self.models),), allow_nan=True)
        n = integer("observe(events)", events, low=1)
        if (t < 0).any():
            raise ModelError("observe(batch_ms): expected times >= 0")
        per_event = t / n
        seen = np.isfinite(per_event)
        previous = np.where(np.isnan(self.latency_ms), per_event, self.latency_ms)
        smoothed = self.smoothing * per_event + (1.0 - self.smoothing) * previous
        self.latency_ms = np.where(seen, smoothed, self.latency_ms)
        self._unmeasured = np.where(seen, 0, self._unmeasured + 1)
        if self.expire_after is not None:
            self.latency_ms[self._unmeasured >= self.expire_after] = np.nan
        return self.allowed()

    def allowed(self) -> np.ndarray:
        """Boolean per candidate: within budget, not measured yet, or the fallback."""
        ok = ~(self.latency_ms > self.budget_ms)  # NaN (unknown) compares False: allowed
        ok[self._fallback] = True
        return ok

    @property
    def fallback_index(self) -> int:
        """The fallback's index in ``models`` (the ``fallback`` argument of a rule's ``run``)."""
        return self._fallback

    def count_fallbacks(self, served: Served) -> int:
        """Count the events of a rule's ``run`` that the fallback served in place of the chosen
        model (where ``served.arms`` differs from ``served.chosen``); returns that count."""
        n = int(np.count_nonzero(served.arms != served.chosen))
        self.fallbacks += n
        return n

    def penalize(
        self,
        rewards: Sequence[Any] | np.ndarray,
        arms: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Rewards minus ``cost_per_ms`` times the latency per event of the model that earned
        them (no cost for an unknown latency).

        Args:
            rewards: with ``arms``, one reward per event for its arm (bandit feedback);
                without, a ``(n_events, n_models)`` matrix (full feedback).
            arms: the arm of each reward, or None for a full matrix.
        """
        cost = self.cost_per_ms * np.nan_to_num(self.latency_ms, nan=0.0)
        if arms is None:
            r = values("penalize(rewards)", rewards, (None, len(self.models)), allow_nan=True)
            return r - cost
        idx = arm_indices("penalize(arms)", arms, len(self.models))
        r = values("penalize(rewards)", rewards, idx.shape, allow_nan=True)
        return r - cost[idx]

    def summary(self) -> dict[str, Any]:
        """Per model: latency per event and whether it may serve; events sent to the fallback."""
        allowed = self.allowed()
        return {
            "budget_ms": self.budget_ms,
            "fallback": self.fallback,
            "fallbacks": self.fallbacks,
            "models": {
                name: {
                    "latency_ms": None if np.isnan(ms) else float(ms),
                    "allowed": bool(ok),
                }
                for name, ms, ok in zip(self.models, self.latency_ms, allowed, strict=True)
            },
        }
