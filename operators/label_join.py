"""Delayed-label join: a prediction waits for its label, keyed by event id.

What waits is the payload frozen at prediction time (the features the model saw, each model's
prediction), so a model learns exactly what it predicted from. Every buffer is bounded:

- a prediction whose label has not come within ``ttl_ms`` of event time expires (counted);
- a label that arrives before its event waits up to ``early_ttl_ms`` of event time, then
  expires as a label for an id never seen (counted);
- at most ``max_pending`` predictions and ``max_pending`` early labels wait; past that the
  oldest is evicted (counted as expired);
- a label for an id already joined is a duplicate and is ignored (counted); ids joined
  recently are remembered, up to ``max_pending`` of them;
- an event id already waiting or joined is a duplicate event (reported, not joined twice).

Event time advances with the largest timestamp seen, of events and labels alike.

>>> j = LabelJoin(LabelSettings(ttl_ms=1000))
>>> j.add_events(["a", "b"], [0, 1], ["pa", "pb"])
[]
>>> j.add_labels(["b", "b", "zz"], [5, 6, 7], [1, 1, 0])
[('b', 'pb', 1)]
>>> j.counts["duplicate_labels"], j.counts["early_labels"]
(1, 1)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from operators.settings import Settings, at_least, setting

__all__ = ["LabelSettings", "LabelJoin"]


@dataclass(frozen=True)
class LabelSettings(Settings):
    """``[labels]``: how long predictions and labels wait for each other, and how many.

    Attributes:
        ttl_ms: how long (event time) a prediction waits for its label.
        early_ttl_ms: how long (event time) a label waits for its event.
        max_pending: cap on waiting predictions, on waiting labels and on remembered ids.
    """

    ttl_ms: int = setting(3_600_000, at_least(0))
    early_ttl_ms: int = setting(60_000, at_least(0))
    max_pending: int = setting(100_000, at_least(1))


class LabelJoin:
    """Match predictions with labels that arrive later (or a little earlier).

    Args:
        settings: the ``[labels]`` settings.
    """

    def __init__(self, settings: LabelSettings) -> None:
        self.settings = settings
        self.ttl_ms = settings.ttl_ms
        self.early_ttl_ms = settings.early_ttl_ms
        self.max_pending = settings.max_pending
        self.watermark_ms = -(2**62)
        self._pending: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._early: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._joined: OrderedDict[str, None] = OrderedDict()
        self.counts = {
            "joined": 0,
            "expired_predictions": 0,
            "early_labels": 0,
            "expired_labels": 0,
            "duplicate_labels": 0,
            "duplicate_events": 0,
        }

    def __len__(self) -> int:
        return len(self._pending) + len(self._early)

    def is_duplicate(self, event_id: str) -> bool:
        """Whether an event with this id is already waiting or was joined recently."""
        return event_id in self._pending or event_id in self._joined

    def add_events(
        self, ids: Sequence[str], ts_ms: Sequence[int], payloads: Sequence[Any]
    ) -> list[tuple[str, Any, Any]]:
        """Register predictions; return ``(id, payload, y)`` for those whose label already came."""
        out = []
        for event_id, ts, payload in zip(ids, ts_ms, payloads):
            if self.is_duplicate(event_id):
                self.counts["duplicate_events"] += 1
                continue
            early = self._early.pop(event_id, None)
            if early is not None:
                out.append((event_id, payload, early[1]))
                self._remember(event_id)
            else:
                self._pending[event_id] = (ts, payload)
                if len(self._pending) > self.max_pending:
                    self._pending.popitem(last=False)
                    self.counts["expired_predictions"] += 1
            self.watermark_ms = max(self.watermark_ms, ts)
        self._expire()
        return out

    def add_labels(
        self, ids: Sequence[str], ts_ms: Sequence[int], ys: Sequence[Any]
    ) -> list[tuple[str, Any, Any]]:
        """Join labels; return ``(id, payload, y)`` for each label that found its prediction."""
        out = []
        for event_id, ts, y in zip(ids, ts_ms, ys):
            hit = self._pending.pop(event_id, None)
            if hit is not None:
                out.append((event_id, hit[1], y))
                self._remember(event_id)
            elif event_id in self._joined or event_id in self._early:
                self.counts["duplicate_labels"] += 1
            else:
                self.counts["early_labels"] += 1
                self._early[event_id] = (ts, y)
                if len(self._early) > self.max_pending:
                    self._early.popitem(last=False)
                    self.counts["expired_labels"] += 1
            self.watermark_ms = max(self.watermark_ms, ts)
        self._expire()
        return out

    def _remember(self, event_id: str) -> None:
        self.counts["joined"] += 1
        self._joined[event_id] = None
        if len(self._joined) > self.max_pending:
            self._joined.popitem(last=False)

    def _expire(self) -> None:
        for buffer, ttl, key in (
            (self._pending, self.ttl_ms, "expired_predictions"),
            (self._early, self.early_ttl_ms, "expired_labels"),
        ):
            cutoff = self.watermark_ms - ttl
            while buffer:
                first = next(iter(buffer.values()))
                if first[0] >= cutoff:
                    break
                buffer.popitem(last=False)
                self.counts[key] += 1
