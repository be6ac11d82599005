"""The output guard: the last step before the sinks, and the one place where sink records are
made from the batch.

1. Each sink's records are derived from the batch's typed fields (``predictions``: the served
   predictions; ``alerts``: every :class:`~operators.records.Alert`; ``dead_letters``: every
   dead letter of any step; ``sample``: the sampling step's emissions) and encoded as JSON, keyed
   by their deterministic ``id`` (the key of their Kafka message, so that a consumer can drop
   the duplicates at-least-once delivery allows).
2. A record too large for its Kafka sink (over ``sinks.<name>.max_message_bytes``, or the
   topic's ``max.message.bytes`` when the broker tells it at start) never reaches the broker,
   where it would fail the job again after every restart. By ``sinks.<name>.oversize``: it
   becomes a dead letter of kind ``output_too_large`` (``"dead_letter"``, the default; the dead
   letter keeps the first 1024 bytes of the record), is counted and skipped (``"skip"``), or
   fails the job naming the record (``"fail"``). A dead letter too large for a Kafka
   dead-letter sink keeps as much of its ``raw`` bytes as fits (``raw_truncated``,
   ``raw_bytes``).

The guard is stateless and its decisions depend only on the record, so a resumed run makes
the same ones. Oversize output records count in the run summary under ``bad_reasons``.

>>> g = OutputGuard({"predictions": SizeLimit(200, "dead_letter", "preds")}, ["predictions"])
>>> from operators.records import Batch
>>> big = {"id": "x" * 300, "source": "events/0@7", "prediction": 1}
>>> out = g.update(Batch(predictions=(big,)))[0]
>>> len(out.sinks["predictions"]), [d.kind for d in out.dead_letters]
(0, ['output_too_large'])
>>> out.dead_letters[0].id, out.dead_letters[0].role
('predictions:events/0@7', 'output')
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from flows.errors import SinkError
from flows.sinks import RECORD_OVERHEAD, SinkSettings, dumps, topic_max_message_bytes
from operators.records import Batch, DeadLetter, SinkRecords

__all__ = ["SINK_NAMES", "SizeLimit", "OutputGuard", "output_guard"]

SINK_NAMES = ("predictions", "alerts", "dead_letters", "sample")
"""The sinks a job can write, each fed by one field of the batch."""

KEEP_BYTES = 1024
"""How much of an oversize record its dead letter keeps."""


@dataclass(frozen=True)
class SizeLimit:
    """The message size limit of one Kafka sink and what to do with a record over it."""

    max_bytes: int
    oversize: str = "dead_letter"
    topic: str = ""


def _records(batch: Batch, name: str) -> Iterable[dict[str, Any]]:
    """The sink records of ``name`` for this batch, from its typed fields."""
    if name == "predictions":
        return batch.predictions
    if name == "alerts":
        return (a.to_record() for a in batch.alerts)
    if name == "dead_letters":
        return (d.to_record() for d in batch.dead_letters)
    return (r for sample in batch.samples for r in sample.records)


class OutputGuard:
    """Encode the records of the configured sinks; keep oversize ones away from Kafka sinks.

    Args:
        limits: the size limit of each Kafka sink, by sink name.
        sinks: the names of the sinks that write (the others get no records).
    """

    def __init__(self, limits: Mapping[str, SizeLimit], sinks: Sequence[str]) -> None:
        self.limits = dict(limits)
        self.sinks = [n for n in SINK_NAMES if n in sinks]

    def update(self, batch: Batch) -> list[Batch]:
        encoded: dict[str, SinkRecords] = {}
        dead: list[DeadLetter] = []  # oversize records, counted in the run summary
        skipped: list[DeadLetter] = []  # ... of them, those only counted (oversize = "skip")
        for name in self.sinks:
            if name == "dead_letters":
                continue
            limit = self.limits.get(name)
            keys, values = [], []
            for record in _records(batch, name):
                key, value = str(record.get("id", "")).encode(), dumps(record)
                if limit is None or self._fits(name, limit, record, key, value, dead, skipped):
                    keys.append(key)
                    values.append(value)
            encoded[name] = SinkRecords(tuple(keys), tuple(values))
        if dead:
            batch = replace(batch, dead_letters=batch.dead_letters + tuple(dead))
        if "dead_letters" in self.sinks:
            limit = self.limits.get("dead_letters")
            letters = [d.to_record() for d in batch.dead_letters if d not in skipped]
            if limit is not None:
                letters = [self._fit(limit, r) for r in letters]
            encoded["dead_letters"] = SinkRecords(
                tuple(str(r["id"]).encode() for r in letters), tuple(dumps(r) for r in letters)
            )
        return [replace(batch, sinks=encoded)]

    @staticmethod
    def _fits(
        name: str,
        limit: SizeLimit,
        record: Mapping[str, Any],
        key: bytes,
        value: bytes,
        dead: list[DeadLetter],
        skipped: list[DeadLetter],
    ) -> bool:
        size = len(key) + len(value) + RECORD_OVERHEAD
        if size <= limit.max_bytes:
            return True
        position = record.get("source") or record.get("id", "")
        shown = str(record.get("id"))[:64]
        reason = (
            f"sink {name!r} (kafka topic {limit.topic!r}): record {shown!r} is {size} "
            f"bytes with its key, over the limit of {limit.max_bytes} bytes"
        )
        if limit.oversize == "fail":
            raise SinkError(f"{reason} (sinks.{name}.oversize = 'fail')")
        letter = DeadLetter(
            "output_too_large", reason, f"{name}:{position}", value[:KEEP_BYTES], "output"
        )
        dead.append(letter)
        if limit.oversize == "skip":
            print(f"riverbed: {reason}; skipped", file=sys.stderr, flush=True)
            skipped.append(letter)
        return False

    @staticmethod
    def _fit(limit: SizeLimit, record: dict[str, Any]) -> dict[str, Any]:
        """A dead letter that fits its Kafka sink: as much of ``raw`` as the limit allows."""
        size = len(dumps(record)) + len(str(record.get("id", "")).encode()) + RECORD_OVERHEAD
        if size <= limit.max_bytes or not isinstance(record.get("raw"), str):
            return record
        raw = record["raw"]
        # Room for the JSON string of raw, after the rest and the two fields added here.
        room = max(limit.max_bytes - (size - len(dumps(raw))) - 64, 0)
        cut = raw[:room]
        while cut and len(dumps(cut)) > room:
            cut = cut[: len(cut) * room // len(dumps(cut))]
        return {**record, "raw": cut, "raw_truncated": True, "raw_bytes": len(raw.encode())}


def output_guard(sinks: Mapping[str, SinkSettings]) -> OutputGuard:
    """The guard for the configured sinks: each Kafka sink's limit is the lower of its
    ``max_message_bytes`` and the topic's ``max.message.bytes`` (if the broker tells it)."""
    limits = {}
    for name, sink in sinks.items():
        if sink.kind != "kafka":
            continue
        limit = sink.max_message_bytes
        on_broker = topic_max_message_bytes(sink.brokers, sink.topic)
        if on_broker is not None:
            limit = min(limit, on_broker)
        limits[name] = SizeLimit(limit, sink.oversize, sink.topic)
    return OutputGuard(limits, [n for n, s in sinks.items() if s.kind != "none"])
