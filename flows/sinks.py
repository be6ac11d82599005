"""Sinks: JSON Lines file, Kafka topic, stdout. Every record is a JSON object with an ``id``.

Each item a sink receives is one batch's :class:`~operators.records.SinkRecords` (encoded by
the output guard, :mod:`flows.outputs`): a file gets one write per batch.

- The file sink keeps its byte offset in Bytewax's recovery snapshot and truncates back to it
  on resume, so a file holds each record once even after a crash. A file that is missing or
  shorter than the snapshot says at resume, or that is removed or replaced while the job
  writes it, stops the job with a :class:`SinkError` (the records before would be lost; the
  file is never padded).
- The Kafka sink writes the same JSON as the message value, keyed by the record id, and waits
  for every delivery report at the end of each batch: a record the broker did not take is sent
  again (``retries``), then fails the job loudly, naming its key, instead of being dropped.
- Kafka output is effectively once across crashes: the sink's snapshot holds, per partition
  of the topic, the end offset of what it had written; at resume, what the topic holds after
  that offset was written by the crashed execution after its last snapshot, and, the outputs
  being deterministic, the resumed execution produces the same records again in the same
  order. The sink reads those keys back and skips the re-produced records up to them (each
  record's partition is the CRC-32 of its key modulo the topic's partitions, so a record goes
  where it went before). A topic must have one writer: a re-produced record that does not
  match what is there is produced anyway (at-least-once), with a line on stderr.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from flows.errors import SinkError
from flows.sources import kafka_consumer, kafka_logger
from operators.records import SinkRecords
from operators.settings import Settings, at_least, number_in, one_of, setting, string

__all__ = [
    "SinkSettings",
    "JsonlFileSink",
    "KafkaSink",
    "StdoutSink",
    "dumps",
    "topic_max_message_bytes",
    "OVERSIZE",
    "RECORD_OVERHEAD",
]


OVERSIZE = ("dead_letter", "skip", "fail")
"""What a Kafka sink does with a record over the broker's message size limit."""


@dataclass(frozen=True)
class SinkSettings(Settings):
    """``[sinks.<name>]``: where one output goes (``none``: nowhere)."""

    kind: str = setting("none", one_of("jsonl", "kafka", "stdout", "none"))
    path: str = setting("", string)
    brokers: str = setting("", string)
    topic: str = setting("", string)
    # kafka: delivery checks and the message size limit
    retries: int = setting(3, at_least(0))
    delivery_timeout_s: float = setting(30.0, number_in(0.1))
    max_message_bytes: int = setting(1_000_000, at_least(1024))
    oversize: str = setting("dead_letter", one_of(*OVERSIZE))

    def problems(self) -> list[str]:
        if self.kind == "jsonl" and not self.path:
            return ["path: required when kind = 'jsonl'"]
        if self.kind == "kafka" and not (self.brokers and self.topic):
            return ["brokers/topic: both required when kind = 'kafka'"]
        return []


def dumps(record: Any) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _lines(items: list[SinkRecords]) -> bytes:
    return b"".join(v + b"\n" for records in items for v in records.values)


class JsonlFileSink(FixedPartitionedSink[SinkRecords, int]):
    """Append records to a JSON Lines file; exactly once across crashes (truncate on resume).

    Items must be ``(key, records)`` pairs (any key: there is one partition).
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def list_parts(self) -> list[str]:
        return ["file"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _FilePartition:
        return _FilePartition(self.path, resume_state or 0)


class _FilePartition(StatefulSinkPartition[SinkRecords, int]):
    def __init__(self, path: str, offset: int) -> None:
        self.path = path
        if offset:
            size = os.path.getsize(path) if os.path.isfile(path) else None
            if size is None or size < offset:
                found = "is missing" if size is None else f"has only {size:,} bytes"
                raise SinkError(
                    f"file sink {path!r}: the recovery snapshot says it holds {offset:,} "
                    f"bytes, but it {found}; restore the file, or start afresh with an empty "
                    "checkpoint.directory"
                )
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.f = open(path, "r+b" if os.path.exists(path) else "wb")
        self.f.truncate(offset)
        self.f.seek(offset)
        self.inode = os.fstat(self.f.fileno()).st_ino

    def write_batch(self, values: list[SinkRecords]) -> None:
        self._still_there()
        self.f.write(_lines(values))
        self.f.flush()

    def _still_there(self) -> None:
        """The file this sink writes is still the one at its path (not removed or replaced)."""
        try:
            same = os.stat(self.path).st_ino == self.inode
        except OSError:
            same = False
        if not same:
            raise SinkError(
                f"file sink {self.path!r}: the file was removed or replaced while the job "
                "wrote it; its records would be lost"
            )

    def snapshot(self) -> int:
        return self.f.tell()

    def close(self) -> None:
        self.f.close()


RECORD_OVERHEAD = 128
"""Bytes a record takes in a Kafka record batch beyond its key and value (a safe bound)."""

_SIZE_ERRORS = (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE)


def topic_max_message_bytes(brokers: str, topic: str, timeout_s: float = 5.0) -> int | None:
    """The topic's ``max.message.bytes`` as the broker reports it (None if it does not say)."""
    admin = AdminClient({"bootstrap.servers": brokers, "logger": kafka_logger()})
    try:
        futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
        for future in futures.values():
            entry = future.result(timeout=timeout_s).get("max.message.bytes")
            if entry is not None and entry.value is not None:
                return int(entry.value)
    except (KafkaException, ValueError, TypeError, concurrent.futures.TimeoutError):
        return None
    return None


class KafkaSink(FixedPartitionedSink[SinkRecords, dict[int, int]]):
    """Produce records to a Kafka topic, keyed by ``record["id"]``, checking every delivery,
    effectively once across crashes (see the module).

    Items must be ``(key, records)`` pairs (any key: there is one partition).

    A record whose delivery fails (after librdkafka's own retries within
    ``delivery_timeout_s``) is sent again, up to ``retries`` more times; then the job fails
    with a :class:`SinkError` naming the sink, the topic and the record key. A record the
    broker refuses as too large is skipped with a line on stderr (``oversize = "skip"``) or
    fails the job naming its key (otherwise: the dataflow's output guard sends records over
    the known limit to the dead letters before they reach the sink, see
    :mod:`flows.outputs`).

    Args:
        brokers: bootstrap servers.
        topic: the topic.
        producer_config: extra librdkafka settings.
        retries: how many times a failed record is sent again.
        delivery_timeout_s: how long one attempt may take (librdkafka ``delivery.timeout.ms``).
        max_message_bytes: the largest message, and record batch, the sink sends (the
            producer's ``message.max.bytes`` and ``batch.size``); the topic's own
            ``max.message.bytes`` when the broker reports a lower one.
        oversize: ``dead_letter``, ``skip`` or ``fail`` (see above).
        name: the sink's name in messages.
    """

    def __init__(
        self,
        brokers: str,
        topic: str,
        producer_config: dict[str, Any] | None = None,
        *,
        retries: int = 3,
        delivery_timeout_s: float = 30.0,
        max_message_bytes: int = 1_000_000,
        oversize: str = "dead_letter",
        name: str = "",
    ) -> None:
        self.brokers = brokers
        self.topic = topic
        self.producer_config = dict(producer_config or {})
        self.retries = retries
        self.delivery_timeout_s = delivery_timeout_s
        self.max_message_bytes = max_message_bytes
        self.oversize = oversize
        self.name = name or topic

    def list_parts(self) -> list[str]:
        return ["kafka"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: dict[int, int] | None
    ) -> _KafkaPartition:
        return _KafkaPartition(self, resume_state)


class _KafkaPartition(StatefulSinkPartition[SinkRecords, dict[int, int]]):
    def __init__(self, sink: KafkaSink, resume_state: dict[int, int] | None = None) -> None:
        self.sink = sink
        timeout_ms = max(int(sink.delivery_timeout_s * 1000), 1)
        # The broker applies its limit to a whole record batch: batches stay under it too.
        limit = sink.max_message_bytes
        on_topic = topic_max_message_bytes(sink.brokers, sink.topic)
        if on_topic is not None:
            limit = min(limit, on_topic)
        self.producer = Producer(
            {
                "bootstrap.servers": sink.brokers,
                "linger.ms": min(5, timeout_ms - 1),
                "enable.idempotence": False,
                "delivery.timeout.ms": timeout_ms,
                "message.max.bytes": limit,
                "batch.size": limit,
                "logger": kafka_logger(),
                **sink.producer_config,
            }
        )
        self.where = f"kafka sink {sink.name!r} (topic {sink.topic!r} on {sink.brokers})"
        self.skipped = 0
        self.duplicates_skipped = 0
        self.ends, self.written_after = self._resume(resume_state)

    def _resume(
        self, state: dict[int, int] | None
    ) -> tuple[dict[int, int], dict[int, list[bytes]]]:
        """The end offset of each partition as of the snapshot (the topic's ends now on a
        fresh start), and the keys written after it by the execution that crashed."""
        consumer = kafka_consumer(self.sink.brokers)
        try:
            meta = consumer.list_topics(self.sink.topic, timeout=self.sink.delivery_timeout_s)
            topic = meta.topics.get(self.sink.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                raise SinkError(f"{self.where}: the topic does not exist")
            ends = {}
            for p in sorted(topic.partitions):
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.sink.topic, p), timeout=self.sink.delivery_timeout_s
                )
                ends[p] = high
            if state is None:
                return ends, {}
            after = {p: _keys(consumer, self.sink.topic, p, state.get(p, 0), high)
                     for p, high in ends.items() if high > state.get(p, 0)}  # fmt: skip
            return {p: max(state.get(p, 0), ends[p]) for p in ends}, after
        except KafkaException as exc:
            raise SinkError(f"{self.where}: cannot read the topic's end: {exc}") from None
        finally:
            consumer.close()

    def snapshot(self) -> dict[int, int]:
        return dict(self.ends)

    def write_batch(self, items: list[SinkRecords]) -> None:
        pending = [kv for records in items for kv in zip(records.keys, records.values)]
        if self.written_after:
            pending = self._not_written(pending)
        for attempt in range(self.sink.retries + 1):
            failed = self._send(pending)
            if not failed:
                return
            i, err = failed[0]
            if attempt == self.sink.retries:
                more = f" (and {len(failed) - 1} more records)" if len(failed) > 1 else ""
                raise SinkError(
                    f"{self.where}: record key {pending[i][0].decode(errors='replace')!r} not "
                    f"delivered after {attempt + 1} attempts (sinks.{self.sink.name}.retries = "
                    f"{self.sink.retries}, delivery_timeout_s = {self.sink.delivery_timeout_s:g})"
                    f": {err}{more}"
                )
            print(
                f"riverbed: {self.where}: {len(failed)} records not delivered ({err}); "
                f"sending them again (retry {attempt + 1} of {self.sink.retries})",
                file=sys.stderr,
                flush=True,
            )
            pending = [pending[i] for i, _ in sorted(failed)]

    def _not_written(self, records: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The records, without those the crashed execution had written after the snapshot
        (the head of each partition's list of keys written then)."""
        n = len(self.ends)
        out = []
        for key, value in records:
            p = _partition(key, n)
            written = self.written_after.get(p)
            if written:
                if written[0] == key:
                    written.pop(0)
                    self.duplicates_skipped += 1
                    continue
                print(
                    f"riverbed: {self.where}: partition {p} holds key "
                    f"{written[0].decode(errors='replace')!r} where this job writes "
                    f"{key.decode(errors='replace')!r}: another writer? Producing the rest "
                    "of it again (at-least-once)",
                    file=sys.stderr,
                    flush=True,
                )
                written.clear()
            out.append((key, value))
        self.written_after = {p: w for p, w in self.written_after.items() if w}
        return out

    def _send(self, records: list[tuple[bytes, bytes]]) -> list[tuple[int, str]]:
        """Produce ``records`` and wait for every delivery report; return the failed ones
        (their index and the error)."""
        failed: list[tuple[int, str]] = []
        oversize: list[tuple[int, str]] = []

        ends = self.ends

        def report(i: int) -> Callable[[Any, Any], None]:
            def delivered(err: Any, msg: Any) -> None:
                if err is not None:
                    (oversize if err.code() in _SIZE_ERRORS else failed).append((i, err.str()))
                else:
                    p = msg.partition()
                    ends[p] = max(ends.get(p, 0), msg.offset() + 1)

            return delivered

        topic = self.sink.topic
        n = len(ends)
        for i, (key, value) in enumerate(records):
            while True:
                try:
                    self.producer.produce(
                        topic, value, key, partition=_partition(key, n), on_delivery=report(i)
                    )
                    break
                except BufferError:
                    self.producer.poll(0.1)  # the local queue is full: let it drain
                except KafkaException as exc:
                    err = exc.args[0]
                    if err.code() in _SIZE_ERRORS:
                        oversize.append((i, err.str()))
                        break
                    raise SinkError(
                        f"{self.where}: cannot produce record key "
                        f"{key.decode(errors='replace')!r}: {err.str()}"
                    ) from None
        remaining = self.producer.flush(self.sink.delivery_timeout_s + 10)
        if remaining:
            raise SinkError(
                f"{self.where}: {remaining} records had no delivery report within "
                f"{self.sink.delivery_timeout_s + 10:g} s"
            )
        for i, why in sorted(oversize):
            self._too_large(records[i][0], len(records[i][1]), why)
        return failed

    def _too_large(self, key: bytes, size: int, why: str) -> None:
        shown = key.decode(errors="replace")
        if self.sink.oversize == "skip":
            self.skipped += 1
            print(
                f"riverbed: {self.where}: record key {shown!r} ({size} bytes) refused as too "
                f"large ({why}); skipped (sinks.{self.sink.name}.oversize = 'skip')",
                file=sys.stderr,
                flush=True,
            )
            return
        raise SinkError(
            f"{self.where}: record key {shown!r} ({size} bytes) refused as too large: {why}. "
            f"The broker's limit is below sinks.{self.sink.name}.max_message_bytes = "
            f"{self.sink.max_message_bytes}: lower that setting to the topic's "
            "max.message.bytes, so such records go to the dead letters"
        )

    def close(self) -> None:
        self.producer.flush(self.sink.delivery_timeout_s + 10)


def _partition(key: bytes, partitions: int) -> int:
    """The partition of a record: CRC-32 of its key, the same in every execution."""
    return zlib.crc32(key) % partitions


def _keys(consumer: Any, topic: str, partition: int, start: int, end: int) -> list[bytes]:
    """The keys of the records at offsets ``start .. end - 1`` of a partition, in order."""
    consumer.assign([TopicPartition(topic, partition, start)])
    keys: list[bytes] = []
    seen = start
    while seen < end:  # offsets may have gaps (transaction markers): the partition's end stops
        for msg in consumer.consume(10_000, timeout=1.0):
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    seen = end
                    break
                raise KafkaException(msg.error())
            if msg.offset() < end:
                keys.append(msg.key() or b"")
            seen = msg.offset() + 1
    consumer.unassign()
    return keys


class StdoutSink(DynamicSink[SinkRecords]):
    """Print each record as one JSON line on standard output."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _StdoutPartition:
        return _StdoutPartition()


class _StdoutPartition(StatelessSinkPartition[SinkRecords]):
    def write_batch(self, items: list[SinkRecords]) -> None:
        out = sys.stdout.buffer
        out.write(_lines(items))
        out.flush()
