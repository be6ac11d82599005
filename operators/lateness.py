"""Allowed lateness: events too far behind the stream's event time become dead letters.

The watermark is the largest event time of the events let through so far. An event whose event
time is more than ``allowed_lateness_ms`` behind it is late: it becomes a dead letter of kind
``late_event`` (its ``raw`` is the decoded event as JSON: id, event time and features) and is
counted; it is not predicted nor learned. Events out of order by at most the allowed lateness
go on as usual. Labels are not checked (a label is late by nature).

The watermark is the step's state (in the recovery snapshot), so a resumed run makes the same
decisions as an uninterrupted one. One event time far in the future moves the watermark there:
validate event times upstream if producers' clocks can be that wrong.

>>> from operators.records import Batch, Event
>>> f = LatenessFilter(allowed_lateness_ms=10)
>>> events = tuple(Event(str(t), t, {}, f"e@{t}") for t in (100, 95, 80, 120))
>>> out = f.update(Batch(events=events))[0]
>>> [e.id for e in out.events], [d.kind for d in out.dead_letters], f.late
(['100', '95', '120'], ['late_event'], 1)
>>> out.dead_letters[0].reason
'event time 80 is 20 ms behind the latest event time 100 (allowed lateness 10 ms)'
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from operators.errors import OperatorError
from operators.records import Batch, DeadLetter, Event

__all__ = ["LatenessFilter"]


class LatenessFilter:
    """Turn events later than ``allowed_lateness_ms`` behind the watermark into dead letters.

    Args:
        allowed_lateness_ms: how far (event time) an event may be behind the largest event
            time seen.

    Attributes:
        watermark_ms: the largest event time let through (None before the first event).
        late: events turned away so far.
    """

    def __init__(self, allowed_lateness_ms: int) -> None:
        if isinstance(allowed_lateness_ms, bool) or not isinstance(allowed_lateness_ms, int):
            raise OperatorError(
                f"lateness: allowed_lateness_ms must be an integer, got {allowed_lateness_ms!r}"
            )
        if allowed_lateness_ms < 0:
            raise OperatorError(
                f"lateness: allowed_lateness_ms must be >= 0, got {allowed_lateness_ms}"
            )
        self.allowed_lateness_ms = allowed_lateness_ms
        self.watermark_ms: int | None = None
        self.late = 0

    def update(self, batch: Batch) -> list[Batch]:
        kept: list[Event] = []
        dead: list[DeadLetter] = []
        mark = self.watermark_ms
        allowed = self.allowed_lateness_ms
        for e in batch.events:
            if mark is not None and e.ts_ms < mark - allowed:
                reason = (
                    f"event time {e.ts_ms} is {mark - e.ts_ms} ms behind the latest event time "
                    f"{mark} (allowed lateness {allowed} ms)"
                )
                raw = orjson.dumps({"id": e.id, "ts_ms": e.ts_ms, "fields": e.fields})
                dead.append(DeadLetter("late_event", reason, e.source, raw, "events"))
                continue
            kept.append(e)
            if mark is None or e.ts_ms > mark:
                mark = e.ts_ms
        self.watermark_ms = mark
        if not dead:
            return [batch]
        self.late += len(dead)
        return [replace(batch, events=tuple(kept), dead_letters=batch.dead_letters + tuple(dead))]
