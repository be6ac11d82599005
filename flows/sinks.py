"""Sinks: JSON Lines file, Kafka topic, stdout. Every record is a JSON object with an ``id``.

- The file sink keeps its byte offset in Bytewax's recovery snapshot and truncates back to it
  on resume, so a file holds each record once even after a crash.
- The Kafka sink writes the same JSON as the message value, keyed by the record id, and waits
  for every delivery report at the end of each batch: a record the broker did not take fails
  the job loudly (after librdkafka's own retries) instead of being dropped. Kafka output is
  at-least-once: consumers drop duplicates by key.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import orjson
from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)
from confluent_kafka import KafkaException, Producer

__all__ = ["SinkError", "JsonlFileSink", "KafkaSink", "StdoutSink", "dumps"]


class SinkError(RuntimeError):
    """A sink could not write a record; the message names the sink and the record."""


def dumps(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class JsonlFileSink(FixedPartitionedSink[dict[str, Any], int]):
    """Append records to a JSON Lines file; exactly once across crashes (truncate on resume).

    Items must be ``(key, record)`` pairs (any key: there is one partition).
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def list_parts(self) -> list[str]:
        return ["file"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _FilePartition:
        return _FilePartition(self.path, resume_state or 0)


class _FilePartition(StatefulSinkPartition[dict[str, Any], int]):
    def __init__(self, path: str, offset: int) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.f = open(path, "r+b" if os.path.exists(path) else "wb")
        self.f.truncate(offset)
        self.f.seek(offset)

    def write_batch(self, values: list[dict[str, Any]]) -> None:
        self.f.write(b"".join(dumps(v) + b"\n" for v in values))
        self.f.flush()

    def snapshot(self) -> int:
        return self.f.tell()

    def close(self) -> None:
        self.f.close()


class KafkaSink(DynamicSink[dict[str, Any]]):
    """Produce records to a Kafka topic, keyed by ``record["id"]``, checking delivery."""

    def __init__(
        self, brokers: str, topic: str, producer_config: dict[str, Any] | None = None
    ) -> None:
        self.brokers = brokers
        self.topic = topic
        self.producer_config = dict(producer_config or {})

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _KafkaPartition:
        return _KafkaPartition(self)


class _KafkaPartition(StatelessSinkPartition[dict[str, Any]]):
    def __init__(self, sink: KafkaSink) -> None:
        self.sink = sink
        self.producer = Producer(
            {
                "bootstrap.servers": sink.brokers,
                "linger.ms": 5,
                "enable.idempotence": False,
                **sink.producer_config,
            }
        )
        self.failures: list[str] = []

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failures.append(f"key {msg.key()!r}: {err.str()}")

    def write_batch(self, items: list[dict[str, Any]]) -> None:
        topic = self.sink.topic
        for record in items:
            key = str(record.get("id", "")).encode()
            try:
                self.producer.produce(topic, dumps(record), key, on_delivery=self._delivered)
            except BufferError:
                self.producer.poll(0.5)
                self.producer.produce(topic, dumps(record), key, on_delivery=self._delivered)
            except KafkaException as exc:
                raise SinkError(
                    f"kafka sink {topic!r}: cannot produce key {key!r}: {exc}"
                ) from None
        remaining = self.producer.flush(60)
        if remaining:
            raise SinkError(f"kafka sink {topic!r}: {remaining} records not delivered within 60 s")
        if self.failures:
            first = self.failures[0]
            raise SinkError(f"kafka sink {topic!r}: {len(self.failures)} records failed: {first}")

    def close(self) -> None:
        self.producer.flush(60)


class StdoutSink(DynamicSink[dict[str, Any]]):
    """Print each record as one JSON line on standard output."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _StdoutPartition:
        return _StdoutPartition()


class _StdoutPartition(StatelessSinkPartition[dict[str, Any]]):
    def write_batch(self, items: list[dict[str, Any]]) -> None:
        out = sys.stdout.buffer
        out.write(b"".join(dumps(v) + b"\n" for v in items))
        out.flush()
