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

Event time advances with the largest timestamp seen, of events and labels alike. Items are
taken one at a time in the merged order of the stream (:meth:`LabelJoin.run`), so what joins,
what expires and when is the same whatever the batch cut.

>>> from operators.records import Events, Labels
>>> j = LabelJoin(LabelSettings(ttl_ms=1000))
>>> first = j.run(Events.of([{}, {}], ids=["a", "b"]), Labels())
>>> first.kinds.tolist(), first.waiting
([0, 0], [0, 1])
>>> j.settle(Events.of([{}, {}], ids=["a", "b"]), {0: "pa", 1: "pb"})
>>> later = j.run(Events(), Labels.of(["b", "b", "zz"], [1, 1, 0], ts_ms=[5, 6, 7]))
>>> later.kinds.tolist(), later.waited, later.ys
([1], ['pb'], [1])
>>> j.counts["duplicate_labels"], j.counts["early_labels"]
(1, 1)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from operators.records import Events, Labels
from operators.settings import Settings, at_least, setting

__all__ = ["LabelSettings", "LabelJoin", "Joined"]


@dataclass(frozen=True, slots=True)
class Joined:
    """What a batch's join gives, in the merged order of its items.

    Attributes:
        predict: per event of the batch, whether it is predicted (False: a duplicate id).
        kinds: per operation, 0 (predict an event) or 1 (learn a joined label).
        event: per operation, the event's index in the batch, or -1 for a learn op of an
            event of an earlier batch (its payload is in ``waited``).
        waited: per learn op, the payload of an earlier batch's event, else None.
        ys: per learn op, the label.
        label_ts: per learn op, the label's time (event time of the label record).
        waiting: the indices of the batch's events left waiting for their label, which need
            :meth:`LabelJoin.settle`.
        seq: per operation, the ``seq`` of the item that made it (the event, or the label).
    """

    predict: np.ndarray
    kinds: np.ndarray
    event: np.ndarray
    waited: list[Any]
    ys: list[Any]
    label_ts: np.ndarray
    waiting: list[int]
    seq: np.ndarray


def _placeholder(entry: Any, k: int) -> bool:
    return entry is not None and isinstance(entry[1], int) and entry[1] == k


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

    def run(self, events: Events, labels: Labels) -> Joined:
        """Join a batch's events and labels, one item at a time in their merged order.

        An event is predicted unless its id is a duplicate; a label joins the prediction
        waiting for it (or, arriving first, waits for its event); time moves on and the
        buffers expire after each item. The events of this batch that are still waiting at the
        end hold a placeholder until :meth:`settle` gives their payloads.
        """
        if self._all_inline(events, labels):
            return self._run_inline(events, labels)
        return self._run_items(events, labels)

    def _all_inline(self, events: Events, labels: Labels) -> bool:
        """Whether every item of the batch is an event with its label right after it, none
        of them a duplicate, no label waiting and room for one more prediction: then the items
        taken one at a time give what :meth:`_run_inline` gives at once."""
        n = len(events)
        return (
            n > 0
            and len(labels) == n
            and not self._early
            and len(self._pending) < self.max_pending
            and labels.ids == events.ids
            and bool(np.array_equal(labels.seq, events.seq + 1))
            and len(set(events.ids)) == n
            and self._pending.keys().isdisjoint(events.ids)
            and self._joined.keys().isdisjoint(events.ids)
        )

    def _run_inline(self, events: Events, labels: Labels) -> Joined:
        """Each event predicted, then learned with its own label (see :meth:`_all_inline`)."""
        n = len(events)
        joined_ids = self._joined
        joined_ids.update(dict.fromkeys(events.ids))
        while len(joined_ids) > self.max_pending:
            joined_ids.popitem(last=False)
        self.counts["joined"] += n
        newest = max(int(events.ts_ms.max()), int(labels.ts_ms.max()))
        if newest > self.watermark_ms:
            self.watermark_ms = newest
            if self._pending:  # nothing joins a waiting prediction here: expire at the end
                _expire(
                    self._pending, newest - self.ttl_ms, self.counts, "expired_predictions"
                )
        kinds = np.tile(np.array([0, 1], dtype=np.int8), n)
        event = np.repeat(np.arange(n, dtype=np.int64), 2)
        seq = np.column_stack([events.seq, labels.seq]).ravel()
        return Joined(
            np.ones(n, dtype=bool), kinds, event, [None] * n, list(labels.ys),
            np.asarray(labels.ts_ms, dtype=np.int64), [], seq.astype(np.int64),
        )  # fmt: skip

    def _run_items(self, events: Events, labels: Labels) -> Joined:
        n_events = len(events)
        kinds = np.concatenate([np.zeros(n_events, np.int8), np.ones(len(labels), np.int8)])
        order = np.lexsort((kinds, np.concatenate([events.seq, labels.seq]))).tolist()
        predict = np.zeros(n_events, dtype=bool)
        out_kinds: list[int] = []
        out_event: list[int] = []
        out_seq: list[int] = []
        seqs = np.concatenate([events.seq, labels.seq]).tolist()
        waited: list[Any] = []
        ys: list[Any] = []
        label_ts: list[int] = []
        pending, early, counts = self._pending, self._early, self.counts
        ev_ids, ev_ts = events.ids, events.ts_ms.tolist()
        lab_ids, lab_ts, lab_ys = labels.ids, labels.ts_ms.tolist(), labels.ys
        mine: list[tuple[str, int]] = []  # this batch's events put in waiting
        joined_ids, max_pending = self._joined, self.max_pending
        ttl, early_ttl, watermark = self.ttl_ms, self.early_ttl_ms, self.watermark_ms
        n_joined = 0
        for k in order:
            if k < n_events:
                event_id, ts = ev_ids[k], ev_ts[k]
                if event_id in pending or event_id in joined_ids:
                    counts["duplicate_events"] += 1
                    continue
                predict[k] = True
                out_kinds.append(0)
                out_event.append(k)
                out_seq.append(seqs[k])
                hit = early.pop(event_id, None)
                if hit is not None:  # its label came first: learned right after it
                    out_kinds.append(1)
                    out_event.append(k)
                    out_seq.append(seqs[k])
                    waited.append(None)
                    ys.append(hit[1])
                    label_ts.append(hit[0])
                    n_joined += 1
                    joined_ids[event_id] = None
                    if len(joined_ids) > max_pending:
                        joined_ids.popitem(last=False)
                else:
                    pending[event_id] = (ts, k)
                    mine.append((event_id, k))
                    if len(pending) > max_pending:
                        pending.popitem(last=False)
                        counts["expired_predictions"] += 1
            else:
                j = k - n_events
                event_id, ts = lab_ids[j], lab_ts[j]
                found = pending.pop(event_id, None)
                if found is not None:
                    here = isinstance(found[1], int)
                    out_kinds.append(1)
                    out_event.append(found[1] if here else -1)
                    out_seq.append(seqs[k])
                    waited.append(None if here else found[1])
                    ys.append(lab_ys[j])
                    label_ts.append(ts)
                    n_joined += 1
                    joined_ids[event_id] = None
                    if len(joined_ids) > max_pending:
                        joined_ids.popitem(last=False)
                elif event_id in joined_ids or event_id in early:
                    counts["duplicate_labels"] += 1
                else:
                    counts["early_labels"] += 1
                    early[event_id] = (ts, lab_ys[j])
                    if len(early) > max_pending:
                        early.popitem(last=False)
                        counts["expired_labels"] += 1
            if ts > watermark:
                watermark = ts
                # the oldest waiting item first: expire only when it is due
                if pending and next(iter(pending.values()))[0] < watermark - ttl:
                    _expire(pending, watermark - ttl, counts, "expired_predictions")
                if early and next(iter(early.values()))[0] < watermark - early_ttl:
                    _expire(early, watermark - early_ttl, counts, "expired_labels")
        self.watermark_ms = watermark
        counts["joined"] += n_joined
        waiting = [k for event_id, k in mine if _placeholder(pending.get(event_id), k)]
        return Joined(
            predict,
            np.array(out_kinds, dtype=np.int8),
            np.array(out_event, dtype=np.int64),
            waited,
            ys,
            np.array(label_ts, dtype=np.int64),
            waiting,
            np.array(out_seq, dtype=np.int64),
        )

    def settle(self, events: Events, payloads: Mapping[int, Any]) -> None:
        """Give the batch's events still waiting (``Joined.waiting``) their payloads."""
        for k, payload in payloads.items():
            event_id = events.ids[k]
            ts, _ = self._pending[event_id]
            self._pending[event_id] = (ts, payload)


def _expire(
    buffer: OrderedDict[str, tuple[int, Any]], cutoff: int, counts: dict[str, int], key: str
) -> None:
    """Drop the items of ``buffer`` older than ``cutoff``, oldest first, counting them."""
    while buffer:
        if next(iter(buffer.values()))[0] >= cutoff:
            break
        buffer.popitem(last=False)
        counts[key] += 1
