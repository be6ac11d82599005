"""The sampling step: a bounded, statistically sound sample of the live stream.

Every valid event goes into a reservoir (uniform, weighted by a field, or stratified by a
field); the sample is emitted to the ``sample`` sink right after every ``every_events``-th
event (whatever the batch cut), or every ``every_s`` seconds (after a batch), and at the end
of input. It travels with that batch in ``batch.samples`` (a
:class:`~operators.records.Sample` that says after how many of the batch's events it was
taken), where the drift step can take it as its reference sample.

Emitted records are ``{"id": "<emission>/<event id>", "emission", "stratum", "event_id",
"ts_ms", "fields"}``: the id is deterministic, so duplicates after a crash can be dropped.

>>> from operators.records import Batch, Events
>>> s = StreamSample(SamplingSettings("uniform", size=2, every_events=3), seed=1)
>>> out = s.update(Batch(events=Events.of([{"x": float(i)} for i in range(4)], ["x"])))
>>> [(r["emission"], r["event_id"]) for r in out[0].samples[0].records], out[0].samples[0].after
([(1, '2'), (1, '1')], 3)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from operators.errors import OperatorError
from operators.records import Batch, Events, Sample
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
        every = self.settings.every_events
        samples = list(batch.samples)
        done = 0
        # An emission every `every_events` events falls right after that event, wherever the
        # batch cut is (the stream position decides, not the batch).
        while every and len(events) - done >= every - self._since:
            take = every - self._since
            self._offer(events, done, done + take)
            done += take
            samples.append(self._emit(done))
        self._offer(events, done, len(events))
        s = self.settings
        if s.every_s and self._since and time.time() - self._last_emit >= s.every_s:
            samples.append(self._emit(len(events)))  # wall-clock: after the batch
        if len(samples) == len(batch.samples):
            return [batch]
        return [replace(batch, samples=tuple(samples))]

    def on_eof(self) -> list[Batch]:
        return [Batch(samples=(self._emit(0),))] if self._since else []

    def _offer(self, events: Events, start: int, stop: int) -> None:
        if stop <= start:
            return
        rows = _Lazy(events, start, stop)
        r = self.reservoir
        field = self.settings.field
        if isinstance(r, UniformReservoir):
            r.update(rows)
        elif isinstance(r, WeightedReservoir):
            r.update(rows, [_weight(v) for v in events.meta[field][start:stop]])
        else:
            r.update(rows, list(events.meta[field][start:stop]))
        self.seen += stop - start
        self._since += stop - start

    def sample(self) -> list[tuple[Any, Sampled]]:
        """``(stratum, event)`` pairs of the current sample (stratum None unless stratified)."""
        s = self.reservoir.sample()
        if isinstance(s, dict):
            return [(k, e) for k, events in s.items() for e in events]
        return [(None, e) for e in s]

    def _emit(self, after: int) -> Sample:
        self.emissions += 1
        self._since = 0
        self._last_emit = time.time()
        records = tuple(
            {
                "id": f"{self.emissions}/{e.event_id}",
                "emission": self.emissions,
                "stratum": stratum,
                "event_id": e.event_id,
                "ts_ms": e.ts_ms,
                "fields": e.fields,
            }
            for stratum, e in self.sample()
        )
        return Sample(records, self.summary(), after)

    def summary(self) -> dict[str, Any]:
        ids = sorted(e.event_id for _, e in self.sample())
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
        return {
            "kind": self.settings.kind,
            "seen": self.seen,
            "size": len(ids),
            "emissions": self.emissions,
            "ids_sha256": digest,
        }


class Sampled(NamedTuple):
    """An event as the sample keeps it."""

    event_id: str
    ts_ms: int
    fields: dict[str, Any]


class _Lazy(Sequence[Sampled]):
    """Events ``start..stop`` of a batch as :class:`Sampled` records, built only for the ones
    a reservoir keeps."""

    def __init__(self, events: Events, start: int, stop: int) -> None:
        self.events, self.start, self.stop = events, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        k = self.start + (i if i >= 0 else len(self) + i)
        e = self.events
        return Sampled(e.ids[k], int(e.ts_ms[k]), e.fields(k))


def _weight(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0
