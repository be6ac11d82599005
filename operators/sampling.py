"""The sampling step: a bounded, statistically sound sample of the live stream.

Every valid event goes into a reservoir (uniform, weighted by a field, or stratified by a
field); the sample is emitted to the ``sample`` sink every ``every_events`` events or
``every_s`` seconds, and at the end of input, and travels with that batch as
``batch.sample`` (a :class:`~operators.records.Sample`), where the drift step can take it as
its reference sample.

Emitted records are ``{"id": "<emission>/<event id>", "emission", "stratum", "event_id",
"ts_ms", "fields"}``: the id is deterministic, so duplicates after a crash can be dropped.

>>> from operators.records import Batch, Event
>>> s = StreamSample(SamplingSettings("uniform", size=2, every_events=3), seed=1)
>>> out = s.update(Batch(events=tuple(Event(str(i), i, {"x": float(i)}) for i in range(4))))
>>> [r["emission"] for r in out[0].sample.records], s.summary()["seen"]
([1, 1], 4)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any

from operators.errors import OperatorError
from operators.records import Batch, Event, Sample
from operators.reservoir import StratifiedReservoir, UniformReservoir, WeightedReservoir
from operators.settings import Settings, at_least, number_in, one_of, setting, string

__all__ = ["KINDS", "SamplingSettings", "StreamSample"]

KINDS = ("uniform", "weighted", "stratified")


@dataclass(frozen=True)
class SamplingSettings(Settings):
    """``[sampling]``: which sample of the stream to keep, and how often to emit it.

    Attributes:
        kind: ``none``, ``uniform`` (Vitter's Algorithm L), ``weighted`` (Efraimidis-Spirakis
            A-ExpJ by ``field``) or ``stratified`` (one reservoir per value of ``field``).
        size: the sample's size (per stratum when stratified).
        field: the event's meta field of weights (weighted) or strata (stratified).
        max_strata: strata with their own reservoir; later ones share ``"__overflow__"``.
        every_events: emit after this many events since the last emission (0: never).
        every_s: emit when a batch arrives this many seconds after the last emission (0: never).
    """

    kind: str = setting("none", one_of("none", *KINDS))
    size: int = setting(1000, at_least(1))
    field: str = setting("", string)
    max_strata: int = setting(100, at_least(1))
    every_events: int = setting(0, at_least(0))
    every_s: float = setting(0.0, number_in(0))

    def problems(self) -> list[str]:
        if self.kind in ("weighted", "stratified") and not self.field:
            return [f"field: required when sampling.kind = {self.kind!r}"]
        return []


class StreamSample:
    """Keep a reservoir of the stream's events and emit it now and then.

    Args:
        settings: the ``[sampling]`` settings (a kind other than ``none``).
        seed: seed of the reservoir.
    """

    def __init__(self, settings: SamplingSettings, seed: int = 0) -> None:
        if settings.kind not in KINDS:
            raise OperatorError(f"sampling.kind: expected one of {KINDS}, got {settings.kind!r}")
        self.settings = settings
        self.seed = seed
        size = settings.size
        self.reservoir: UniformReservoir | WeightedReservoir | StratifiedReservoir
        if settings.kind == "uniform":
            self.reservoir = UniformReservoir(size, seed)
        elif settings.kind == "weighted":
            self.reservoir = WeightedReservoir(size, seed)
        else:
            self.reservoir = StratifiedReservoir(size, settings.max_strata, seed)
        self.seen = 0
        self.emissions = 0
        self._since = 0
        self._last_emit = time.time()

    def update(self, batch: Batch) -> list[Batch]:
        events = batch.events
        if events:
            self._offer(events)
        self.seen += len(events)
        self._since += len(events)
        s = self.settings
        due = (s.every_events and self._since >= s.every_events) or (
            s.every_s and time.time() - self._last_emit >= s.every_s
        )
        if not (due and self._since):
            return [batch]
        return [self._emit(batch)]

    def on_eof(self) -> list[Batch]:
        return [self._emit(Batch())] if self._since else []

    def _offer(self, events: tuple[Event, ...]) -> None:
        r = self.reservoir
        if isinstance(r, UniformReservoir):
            r.update(events)
        elif isinstance(r, WeightedReservoir):
            r.update(events, [_weight(e.meta.get(self.settings.field)) for e in events])
        else:
            r.update(events, [e.meta.get(self.settings.field) for e in events])

    def sample(self) -> list[tuple[Any, Event]]:
        """``(stratum, event)`` pairs of the current sample (stratum None unless stratified)."""
        s = self.reservoir.sample()
        if isinstance(s, dict):
            return [(k, e) for k, events in s.items() for e in events]
        return [(None, e) for e in s]

    def _emit(self, batch: Batch) -> Batch:
        self.emissions += 1
        self._since = 0
        self._last_emit = time.time()
        records = tuple(
            {
                "id": f"{self.emissions}/{e.id}",
                "emission": self.emissions,
                "stratum": stratum,
                "event_id": e.id,
                "ts_ms": e.ts_ms,
                "fields": e.fields,
            }
            for stratum, e in self.sample()
        )
        return replace(batch, sample=Sample(records, self.summary()))

    def summary(self) -> dict[str, Any]:
        ids = sorted(e.id for _, e in self.sample())
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
        return {
            "kind": self.settings.kind,
            "seen": self.seen,
            "size": len(ids),
            "emissions": self.emissions,
            "ids_sha256": digest,
        }


def _weight(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0
