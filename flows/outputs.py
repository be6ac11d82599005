"""The output guard: the last step before the sinks.

1. Every output record gets a deterministic ``id`` (the key of its Kafka message, so that a
   consumer can drop the duplicates at-least-once delivery allows). Predictions and dead
   letters have theirs already (the event id, the source position); an alert without one gets
   ``"{detector}/{model or feature}/{window end position}"``.
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

>>> g = OutputGuard({"predictions": SizeLimit(200, "dead_letter", "preds")})
>>> from operators.records import Batch
>>> big = {"id": "x" * 300, "source": "events/0@7", "prediction": 1}
>>> out = g(Batch(outputs={"predictions": [big], "alerts": [
...     {"detector": "adwin", "model": "lr", "window": {"end_position": 9}}]}))
>>> out.outputs["predictions"], out.outputs["alerts"][0]["id"]
([], 'adwin/lr/9')
>>> d = out.outputs["dead_letters"][0]
>>> d["id"], d["kind"], d["role"]
('predictions:events/0@7', 'output_too_large', 'output')
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from flows.config import SinkConfig
from flows.sinks import RECORD_OVERHEAD, SinkError, dumps, topic_max_message_bytes
from operators.records import Batch, DeadLetter

__all__ = ["SizeLimit", "OutputGuard", "alert_id", "output_guard"]

KEEP_BYTES = 1024
"""How much of an oversize record its dead letter keeps."""


@dataclass(frozen=True)
class SizeLimit:
    """The message size limit of one Kafka sink and what to do with a record over it."""

    max_bytes: int
    oversize: str = "dead_letter"
    topic: str = ""


def alert_id(alert: Mapping[str, Any]) -> str:
    """The deterministic id of an alert: detector, subject (model or feature), position.

    >>> alert_id({"detector": "ks", "feature": "age", "window": {"end_position": 500}})
    'ks/age/500'
    """
    subject = alert.get("model") or alert.get("feature") or "-"
    window = alert.get("window") or {}
    at = window.get("end_position", alert.get("event_id", "-"))
    return f"{alert.get('detector', 'alert')}/{subject}/{at}"


class OutputGuard:
    """Give alerts their ids; keep records over a Kafka sink's size limit away from it.

    Args:
        limits: the size limit of each Kafka sink, by sink name.
    """

    def __init__(self, limits: Mapping[str, SizeLimit]) -> None:
        self.limits = dict(limits)

    def __call__(self, batch: Batch) -> Batch:
        outputs = batch.outputs
        alerts = outputs.get("alerts")
        if not self.limits and not (alerts and any("id" not in a for a in alerts)):
            return batch
        outputs = dict(outputs)
        if alerts:
            outputs["alerts"] = [a if "id" in a else {"id": alert_id(a), **a} for a in alerts]
        dead: list[DeadLetter] = []
        for name, limit in self.limits.items():
            if name == "dead_letters" or not outputs.get(name):
                continue
            found: list[DeadLetter] = []
            outputs[name] = self._check(name, limit, outputs[name], found)
            dead.extend(found)
            if found and limit.oversize == "dead_letter":
                letters = list(outputs.get("dead_letters", ()))
                outputs["dead_letters"] = letters + [d.to_record() for d in found]
        if "dead_letters" in self.limits and outputs.get("dead_letters"):
            outputs["dead_letters"] = [
                self._fit(self.limits["dead_letters"], r) for r in outputs["dead_letters"]
            ]
        return replace(batch, outputs=outputs, dead_letters=batch.dead_letters + tuple(dead))

    def _check(
        self, name: str, limit: SizeLimit, records: list[dict[str, Any]], dead: list[DeadLetter]
    ) -> list[dict[str, Any]]:
        kept = []
        for record in records:
            value = dumps(record)
            key = str(record.get("id", "")).encode()
            size = len(key) + len(value) + RECORD_OVERHEAD
            if size <= limit.max_bytes:
                kept.append(record)
                continue
            position = record.get("source") or record.get("id", "")
            shown = str(record.get("id"))[:64]
            reason = (
                f"sink {name!r} (kafka topic {limit.topic!r}): record {shown!r} is {size} "
                f"bytes with its key, over the limit of {limit.max_bytes} bytes"
            )
            if limit.oversize == "fail":
                raise SinkError(f"{reason} (sinks.{name}.oversize = 'fail')")
            if limit.oversize == "skip":
                print(f"riverbed: {reason}; skipped", file=sys.stderr, flush=True)
            dead.append(
                DeadLetter(
                    "output_too_large", reason, f"{name}:{position}", value[:KEEP_BYTES], "output"
                )
            )
        return kept

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


def output_guard(sinks: Mapping[str, SinkConfig]) -> OutputGuard:
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
    return OutputGuard(limits)
