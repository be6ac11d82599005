"""Watch for degenerate feedback loops in what is served.

A model that learns from the outcomes of its own served predictions can narrow itself: one
arm takes all the traffic (the others' estimates go stale), or the served predictions collapse
onto few values (a recommender that only shows what was clicked before). The monitor keeps the
last ``window`` served events and reports, as a dict:

- the Shannon entropy (bits) of the served predictions, and that entropy over its maximum
  ``log2(number of distinct values in the window)``;
- each arm's share of the window, and the entropy of those shares;
- a bounded history of those figures, one snapshot every ``every`` events, taken at exactly
  that event over the ``window`` events up to it (so the history, like every figure, is the
  same for any cut of the stream into batches);
- ``alerts`` when optional thresholds are crossed.

Predictions are categories (class labels; None is one too). For real-valued predictions give
``bins``: a prediction ``x`` falls in bin ``i`` when ``bins[i-1] <= x < bins[i]``. At most
``max_classes`` distinct values are tracked; later new values share one overflow bucket.

>>> m = FeedbackMonitor(["a", "b"], window=4)
>>> m.update([0, 0, 1, 0, 0], ["x", "y", "x", "x", "y"])
>>> r = m.report()
>>> r["arm_shares"], r["prediction_shares"], r["prediction_entropy_bits"]
({'a': 0.75, 'b': 0.25}, {'x': 0.5, 'y': 0.5}, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from online_models.errors import ModelError
from online_models.validate import arm_indices, integer, names, number

__all__ = ["FeedbackMonitor", "entropy_bits"]

OVERFLOW = "__other__"


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy in bits of the distribution given by ``counts``.

    >>> entropy_bits(np.array([1, 1, 2]))
    1.5
    """
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


class FeedbackMonitor:
    """Diversity of the served predictions and of the arms serving them, over a window.

    Args:
        arms: the candidates' names (the arm indices passed to :meth:`update` index them).
        window: number of most recent served events the figures cover.
        every: events between history snapshots; 0 for none.
        history: number of snapshots kept (the oldest are dropped).
        max_classes: distinct prediction values tracked before the overflow bucket.
        bins: increasing bin edges for numeric predictions; None when predictions are labels.
        min_entropy_ratio: alert when the prediction entropy ratio falls below it, in [0, 1].
        max_arm_share: alert when one arm's share of the window exceeds it, in [0, 1].
    """

    def __init__(
        self,
        arms: Sequence[str],
        window: int = 1000,
        *,
        every: int = 0,
        history: int = 100,
        max_classes: int = 100,
        bins: Sequence[float] | None = None,
        min_entropy_ratio: float | None = None,
        max_arm_share: float | None = None,
    ) -> None:
        self.arms = names("monitor.arms", arms)
        self.window = integer("monitor.window", window, low=1)
        self.every = integer("monitor.every", every, low=0)
        self.history = integer("monitor.history", history, low=1)
        self.max_classes = integer("monitor.max_classes", max_classes, low=1)
        self.bins = None if bins is None else list(bins)
        if self.bins is not None:
            edges = np.asarray(self.bins, dtype=float)
            if edges.ndim != 1 or not edges.size or (np.diff(edges) <= 0).any():
                raise ModelError(f"monitor.bins: expected increasing bin edges, got {bins!r}")
        self.min_entropy_ratio = min_entropy_ratio
        if min_entropy_ratio is not None:
            number("monitor.min_entropy_ratio", min_entropy_ratio, low=0.0, high=1.0)
        self.max_arm_share = max_arm_share
        if max_arm_share is not None:
            number("monitor.max_arm_share", max_arm_share, low=0.0, high=1.0)
        self.events = 0
        self.snapshots: list[dict[str, Any]] = []
        self._labels: list[str] = []
        self._codes: dict[Any, int] = {}
        self._arms = np.zeros(0, dtype=np.int64)
        self._predictions = np.zeros(0, dtype=np.int64)

    def update(self, arms: Sequence[int] | np.ndarray, predictions: Sequence[Any]) -> None:
        """Record a batch of served events: the arm that served each, and its prediction."""
        idx = arm_indices("update(arms)", arms, len(self.arms))
        if len(predictions) != len(idx):
            raise ModelError(
                f"update(predictions): expected {len(idx)} predictions, got {len(predictions)}"
            )
        codes = self._encode(predictions)
        first = self.events - len(self._arms)  # stream position of the oldest kept event
        arms = np.concatenate([self._arms, idx])
        served = np.concatenate([self._predictions, codes])
        if self.every:
            due = range(
                (self.events // self.every + 1) * self.every,
                self.events + len(idx) + 1,
                self.every,
            )
            taken = [self._figures(arms, served, at - first, at) for at in due]
            self.snapshots = [*self.snapshots, *taken][-self.history :]
        self.events += len(idx)
        self._arms = arms[-self.window :]
        self._predictions = served[-self.window :]

    def report(self) -> dict[str, Any]:
        """The figures over the window, the history of snapshots and the alerts."""
        figures = self._figures(self._arms, self._predictions, len(self._arms), self.events)
        counts = np.bincount(self._predictions, minlength=len(self._labels))
        n = max(len(self._predictions), 1)
        alerts = []
        ratio = figures["prediction_entropy_ratio"]
        if (
            self.min_entropy_ratio is not None
            and self._predictions.size
            and (ratio < self.min_entropy_ratio)
        ):
            alerts.append(
                f"prediction entropy ratio {ratio:.3f} < min_entropy_ratio {self.min_entropy_ratio}"
            )
        if self.max_arm_share is not None:
            for arm, share in figures["arm_shares"].items():
                if share > self.max_arm_share:
                    alerts.append(
                        f"arm {arm!r} share {share:.3f} > max_arm_share {self.max_arm_share}"
                    )
        shares: dict[str, float] = {}
        for label, c in zip(self._labels, counts, strict=True):
            if c:
                shares[label] = shares.get(label, 0.0) + float(c / n)
        return {
            **figures,
            "window": self.window,
            "prediction_shares": shares,
            "history": list(self.snapshots),
            "alerts": alerts,
            "degenerate": bool(alerts),
        }

    def _figures(
        self, arms: np.ndarray, predictions: np.ndarray, end: int, position: int
    ) -> dict[str, Any]:
        # The figures over the window of events ending just before index ``end`` of the arrays.
        start = max(end - self.window, 0)
        arms, predictions = arms[start:end], predictions[start:end]
        arm_counts = np.bincount(arms, minlength=len(self.arms))
        pred_counts = np.bincount(predictions, minlength=len(self._labels))
        distinct = int(np.count_nonzero(pred_counts))
        entropy = entropy_bits(pred_counts)
        n = max(len(arms), 1)
        return {
            "position": position,
            "window_events": int(len(arms)),
            "prediction_entropy_bits": entropy,
            "prediction_entropy_ratio": entropy / math.log2(distinct) if distinct > 1 else 0.0,
            "distinct_predictions": distinct,
            "arm_shares": {arm: float(c / n) for arm, c in zip(self.arms, arm_counts, strict=True)},
            "arm_entropy_bits": entropy_bits(arm_counts),
        }

    def _encode(self, predictions: Sequence[Any]) -> np.ndarray:
        if self.bins is not None:
            try:
                x = np.asarray(predictions, dtype=float)
            except (TypeError, ValueError) as e:
                raise ModelError("update(predictions): with monitor.bins, expected numbers") from e
            bins = np.searchsorted(np.asarray(self.bins), x, side="right")
            # NaN sorts past every edge: it gets its own bucket after the last bin
            keys: Sequence[Any] = np.where(np.isnan(x), -1, bins).tolist()
        else:
            keys = predictions
        codes = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            code = self._codes.get(key)
            if code is None:
                code = self._new_code(key)
            codes[i] = code
        return codes

    def _new_code(self, key: Any) -> int:
        if len(self._labels) >= self.max_classes:
            key, label = OVERFLOW, OVERFLOW
            if OVERFLOW in self._codes:
                return self._codes[OVERFLOW]
        else:
            label = str(key) if self.bins is None else _bin_label(self.bins, key)
        self._codes[key] = len(self._labels)
        self._labels.append(label)
        return self._codes[key]


def _bin_label(bins: Sequence[float], i: int) -> str:
    if i < 0:
        return "nan"
    edges = [-math.inf, *bins, math.inf]
    return f"[{edges[i]}, {edges[i + 1]})"
