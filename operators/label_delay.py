"""Hold inline labels back by a number of events, to replay a stream with late labels.

The label of event ``i`` is learned just before event ``i + delay`` is predicted (or at the end
of input): it is released right after event ``i + delay - 1`` in the merged order of the
stream (its ``seq`` is that event's plus one), in whichever batch that event comes. This is
the convention of River's ``progressive_val_score(delay=d)``, so ``delay`` 0 and 1 both mean
that a label is learned right after its own event, and it does not depend on how the stream is
cut into batches.

>>> from operators.records import Batch, Events, Labels
>>> d = LabelDelay(2)
>>> b = Batch(events=Events.of([{}] * 3), labels=Labels.of(["0", "1", "2"], [0, 1, 0]))
>>> out = d.update(b)[0]
>>> list(out.labels.ids), out.labels.seq.tolist()  # label 0 right after event 1 (seq 2)
(['0', '1'], [3, 5])
>>> list(d.on_eof()[0].labels.ids)
['2']
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

import numpy as np

from operators.errors import OperatorError
from operators.records import Batch, Labels

__all__ = ["LabelDelay"]

_END = np.iinfo(np.int64).max
"""The seq of labels released at the end of input (after every event)."""


class LabelDelay:
    """Release each event's inline label ``delay`` events after the event.

    Attributes:
        seen: events so far.
    """

    def __init__(self, delay: int) -> None:
        if delay < 0:
            raise OperatorError(f"label delay: delay must be >= 0 events, got {delay}")
        self.delay = delay
        self.seen = 0
        self._held: deque[tuple[int, str, int, Any, str]] = deque()

    def update(self, batch: Batch) -> list[Batch]:
        events, labels = batch.events, batch.labels
        first = self.seen
        self.seen += len(events)
        # The event just before each label in the merged order (the last one before the batch
        # when none of the batch's events is before it).
        before = np.searchsorted(events.seq, labels.seq, side="right") - 1 + first
        lag = max(self.delay - 1, 0)
        for j, at in enumerate(before.tolist()):
            self._held.append(
                (at + lag, labels.ids[j], int(labels.ts_ms[j]), labels.ys[j], labels.sources[j])
            )
        released = []
        while self._held and self._held[0][0] < self.seen:
            released.append(self._held.popleft())
        return [replace(batch, labels=self._labels(released, events.seq, first))]

    def on_eof(self) -> list[Batch]:
        rest = list(self._held)
        self._held.clear()
        return [Batch(labels=self._labels(rest, None, 0))] if rest else []

    @staticmethod
    def _labels(
        held: list[tuple[int, str, int, Any, str]], seq: np.ndarray | None, first: int
    ) -> Labels:
        if not held:
            return Labels()
        at = np.array([h[0] for h in held], dtype=np.int64)
        if seq is None:
            new_seq = np.full(len(held), _END, dtype=np.int64)
        else:  # right after the event each waited for (before the first one: ahead of all)
            k = at - first
            new_seq = np.where(k >= 0, seq[np.clip(k, 0, max(len(seq) - 1, 0))] + 1, -1)
        order = np.argsort(new_seq, kind="stable")
        pick = order.tolist()
        return Labels(
            tuple(held[i][1] for i in pick),
            np.array([held[i][2] for i in pick], dtype=np.int64),
            tuple(held[i][3] for i in pick),
            tuple(held[i][4] for i in pick),
            new_seq[order],
        )
