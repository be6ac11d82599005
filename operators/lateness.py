"""Allowed lateness: events too far behind the stream's event time become dead letters.

The watermark is the largest event time of the events let through so far. An event whose event
time is more than ``allowed_lateness_ms`` behind it is late: it becomes a dead letter of kind
``late_event`` (its ``raw`` is the decoded event as JSON: id, event time and features) and is
counted; it is not predicted nor learned. Events out of order by at most the allowed lateness
go on as usual. Labels are not checked (a label is late by nature).

The watermark is the step's state (in the recovery snapshot), so a resumed run makes the same
decisions as an uninterrupted one. One event time far in the future moves the watermark there:
validate event times upstream if producers' clocks can be that wrong.

>>> from operators.records import Batch, Events
>>> f = LatenessFilter(allowed_lateness_ms=10)
>>> times = [100, 95, 80, 120]
>>> events = Events.of([{}] * 4, ids=[str(t) for t in times], ts_ms=times)
>>> out = f.update(Batch(events=events))[0]
>>> list(out.events.ids), [d.kind for d in out.dead_letters], f.late
(['100', '95', '120'], ['late_event'], 1)
>>> out.dead_letters[0].reason
'event time 80 is 20 ms behind the latest event time 100 (allowed lateness 10 ms)'
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import orjson

from operators.errors import OperatorError
from operators.records import Batch, DeadLetter

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
        events = batch.events
        if not len(events):
            return [batch]
        ts = events.ts_ms
        # The watermark before each event: late events never raise it (they are behind it),
        # so it is the running maximum of every earlier event time.
        start = np.iinfo(np.int64).min if self.watermark_ms is None else self.watermark_ms
        before = np.maximum.accumulate(np.concatenate([[start], ts[:-1]]))
        before = np.maximum(before, start)
        allowed = self.allowed_lateness_ms
        late = (before > np.iinfo(np.int64).min) & (ts < before - allowed)
        self.watermark_ms = int(max(start, ts.max()))
        if not late.any():
            return [batch]
        dead = []
        for i in np.flatnonzero(late).tolist():
            mark, t = int(before[i]), int(ts[i])
            reason = (
                f"event time {t} is {mark - t} ms behind the latest event time {mark} "
                f"(allowed lateness {allowed} ms)"
            )
            raw = orjson.dumps({"id": events.ids[i], "ts_ms": t, "fields": events.fields(i)})
            dead.append(DeadLetter("late_event", reason, events.sources[i], raw, "events"))
        self.late += len(dead)
        kept = events.take(np.flatnonzero(~late))
        return [replace(batch, events=kept, dead_letters=batch.dead_letters + tuple(dead))]
