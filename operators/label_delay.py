"""Hold inline labels back by a number of events, to replay a stream with late labels.

The label of event ``i`` is learned just before event ``i + delay`` is predicted (or at the end
of input): it is released with the batch that carries event ``i + delay - 1``, after that
batch's predictions. This is the convention of River's ``progressive_val_score(delay=d)``, so
``delay`` 0 and 1 both mean that a label is learned right after its own event.

>>> from operators.records import Batch, Event, Label
>>> d = LabelDelay(2)
>>> b = lambda i: Batch(events=(Event(str(i), i, {}),), labels=(Label(str(i), i, i % 2),))
>>> [[lab.id for lab in out.labels] for out in d.update(b(0)) + d.update(b(1))]
[[], ['0']]
>>> [lab.id for lab in d.on_eof()[0].labels]
['1']
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from operators.errors import OperatorError
from operators.records import Batch, Label

__all__ = ["LabelDelay"]


class LabelDelay:
    """Release each event's inline label ``delay`` events after the event."""

    def __init__(self, delay: int) -> None:
        if delay < 0:
            raise OperatorError(f"label delay: delay must be >= 0 events, got {delay}")
        self.delay = delay
        self.seen = 0
        self._held: deque[tuple[int, Label]] = deque()

    def update(self, batch: Batch) -> list[Batch]:
        index = {e.id: self.seen + i for i, e in enumerate(batch.events)}
        self.seen += len(batch.events)
        for label in batch.labels:
            at = index.get(label.id, self.seen - 1) + max(self.delay - 1, 0)
            self._held.append((at, label))
        released = []
        while self._held and self._held[0][0] < self.seen:
            released.append(self._held.popleft()[1])
        return [replace(batch, labels=tuple(released))]

    def on_eof(self) -> list[Batch]:
        rest = tuple(label for _, label in self._held)
        self._held.clear()
        return [Batch(labels=rest)] if rest else []
