"""Sources: a Kafka topic (events, and labels on their own topic), a JSON Lines or CSV file, and
a synthetic drifting stream. Each keeps its read position in Bytewax's recovery snapshots.

Each hands the dataflow :class:`~operators.records.RawBatch` micro-batches. Batches are cut at
deterministic places (every ``max_events`` records of the merged stream)
whenever the source knows more input is coming, so a job resumed from a snapshot sees exactly
the batches an uninterrupted one would; only a live source that has caught up cuts a shorter
batch after ``max_ms``.

Kafka: the events topic and the labels topic are read by one consumer and merged in event time
(record timestamp, events before labels on ties, then partition and offset), so labels that
were produced after their event reach the job after it, and a replay is repeatable. With
``stop_at_end`` the source ends when it reaches the high watermarks it saw at start.

Failure behaviour (Kafka): at start, the broker's metadata and end offsets must come within
``startup_timeout_s`` in all, else a :class:`SourceError` names the broker (or the missing
topic); nothing blocks longer. A broker that goes away mid-run is waited for (librdkafka
reconnects; positions are the source's own, so nothing is skipped). An offset the broker does
not have is never skipped silently: records deleted before the job read them, or a broker that
came back without records the job already saw, stop the job with a :class:`SourceError`.

Every source ends its input when a graceful stop is requested (:mod:`flows.shutdown`), and
tells where it is (:meth:`progress`: records handed over per partition and, for Kafka, the lag
behind each partition's end) for Prometheus and the progress line.
"""

from __future__ import annotations

import csv
import logging
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any, NamedTuple

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from flows import shutdown, synthetic
from flows.errors import SourceError
from operators.records import RawBatch
from operators.settings import Settings, at_least, boolean, name, number_in, one_of, setting, string

__all__ = [
    "SourceSettings",
    "BatchSettings",
    "KafkaSource",
    "FileSource",
    "SyntheticSource",
    "PartitionProgress",
    "kafka_consumer",
    "kafka_logger",
    "topic_partitions",
    "watermarks",
]


@dataclass(frozen=True)
class SourceSettings(Settings):
    """``[source]``: where events (and labels) come from."""

    kind: str = setting("synthetic", one_of("file", "kafka", "synthetic"))
    # kafka
    brokers: str = setting("127.0.0.1:9092", name)
    events_topic: str = setting("events", name)
    labels_topic: str = setting("", string)
    start: str = setting("earliest", one_of("earliest", "latest"))
    stop_at_end: bool = setting(False, boolean)
    startup_timeout_s: float = setting(10.0, number_in(0.1))
    merge_wait_ms: int = setting(200, at_least(0))
    # file
    path: str = setting("", string)
    format: str = setting("jsonl", one_of("jsonl", "csv"))
    # synthetic
    events: int = setting(100_000, at_least(1))
    drift_at: int = setting(50_000, at_least(0))
    drift_width: int = setting(1, at_least(1))
    # file and synthetic: hold inline labels back this many events
    label_delay: int = setting(0, at_least(0))
    # events more than this behind the latest event time are dead letters (None: no check)
    allowed_lateness_ms: int | None = setting(None, at_least(0))
    # events and labels more than this ahead of the stream's newest time are dead letters
    max_future_ms: int = setting(86_400_000, at_least(0))

    def problems(self) -> list[str]:
        out = []
        if self.kind == "file" and not self.path:
            out.append("path: required when source.kind = 'file'")
        if self.kind == "kafka" and self.label_delay:
            out.append("label_delay: only for file and synthetic sources")
        return out


@dataclass(frozen=True)
class BatchSettings(Settings):
    """``[batch]``: how many records a micro-batch holds at most, and how long a caught-up live
    source waits to fill one."""

    max_events: int = setting(1000, at_least(1))
    max_ms: int = setting(100, at_least(1))


class _Buffered(NamedTuple):
    """A record read from a topic-partition, waiting for the merge (ordered by its fields:
    timestamp, then events before labels, then partition and offset)."""

    ts_ms: int
    role_order: int
    partition: int
    offset: int
    value: bytes

    def order(self) -> tuple[int, int, int, int]:
        return (self.ts_ms, self.role_order, self.partition, self.offset)


class _Records:
    """The columns of a :class:`~operators.records.RawBatch` being filled."""

    def __init__(self) -> None:
        self.roles: list[str] = []
        self.streams: list[str] = []
        self.offsets: list[int] = []
        self.ts_ms: list[int] = []
        self.values: list[Any] = []

    def __len__(self) -> int:
        return len(self.values)

    def add(self, role: str, stream: str, offset: int, ts_ms: int, value: Any) -> None:
        self.roles.append(role)
        self.streams.append(stream)
        self.offsets.append(offset)
        self.ts_ms.append(ts_ms)
        self.values.append(value)

    def batch(self) -> RawBatch:
        return RawBatch(
            time.time(), self.roles, self.streams, self.offsets, self.ts_ms, self.values
        )


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    """Where a source is in one partition (a Kafka topic-partition, a file, the synthetic
    stream).

    Attributes:
        source: the topic, the file's name, or ``"synthetic"``.
        partition: the partition (0 for a file or the synthetic stream).
        records: records handed to the dataflow by this process.
        lag: Kafka: records between the source's position and the partition's high watermark
            (as of the last fetch); None where unknown.
        lag_s: Kafka: how old the next record to hand over is (now minus its timestamp), 0
            when there is no lag; None where unknown (not fetched yet).
    """

    source: str
    partition: int
    records: int
    lag: int | None = None
    lag_s: float | None = None


class _Watched:
    """A source whose built partitions report their :class:`PartitionProgress`."""

    def _watch(self, part: Any) -> Any:
        self.__dict__.setdefault("_parts", []).append(part)
        return part

    def progress(self) -> list[PartitionProgress]:
        """Every partition's progress (empty before the dataflow has built the source)."""
        return [p for part in self.__dict__.get("_parts", ()) for p in part.progress()]


def _soon(ms: int) -> datetime:
    return datetime.now(timezone.utc) + timedelta(milliseconds=ms)


# --- Kafka -------------------------------------------------------------------------------------


class _QuietRepeats(logging.Filter):
    """Drop a librdkafka log line identical to one shown in the last ``every_s`` seconds (a
    broker that is down is reported once per interval, not every 50 ms)."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.shown: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # librdkafka lines carry a timestamp and "after N ms": keep only the words.
        text = re.sub(r"\d+(\.\d+)?", "#", record.getMessage())
        now = time.monotonic()
        if now - self.shown.get(text, -self.every_s) < self.every_s:
            return False
        if len(self.shown) > 1000:
            self.shown.clear()
        self.shown[text] = now
        return True


def kafka_logger() -> logging.Logger:
    """The logger given to librdkafka clients: lines on stderr, repeats within 10 s dropped."""
    log = logging.getLogger("riverbed.kafka")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("riverbed: kafka: %(message)s"))
        handler.addFilter(_QuietRepeats())
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        log.propagate = False
    return log


class KafkaSource(_Watched, FixedPartitionedSource[RawBatch, dict[str, int]]):
    """Events (and labels) from Kafka, merged in event time, in micro-batches.

    Args:
        brokers: bootstrap servers, ``host:port[,host:port]``.
        events_topic: the topic of events.
        labels_topic: the topic of labels, or ``""`` when labels are inline in events.
        start: ``"earliest"`` or ``"latest"``, where a job without a snapshot begins.
        stop_at_end: end at the high watermarks seen at start (drain, replay), else tail.
        max_events: records per batch.
        max_ms: how long a caught-up live source waits to fill a batch.
        startup_timeout_s: how long to wait for the broker at start (metadata and end
            offsets together); then a :class:`SourceError` names the broker and the topic.
        merge_wait_ms: how long a live source waits for an idle topic before merging without it.
        consumer_config: extra librdkafka settings.
        starts: where to begin, by ``"topic/partition"``, for a job without a snapshot
            (overrides ``start`` for those partitions; replay).
        ends: where to end (exclusive), by ``"topic/partition"``, instead of the high
            watermark (with ``stop_at_end``; replay).
        time_ranges: ``(since_ms, until_ms)`` by ``"topic/partition"``: only records whose
            timestamp is in this half-open range are handed over (either bound may be None);
            the others are skipped (replay by timestamp, right even on a broker whose
            offsets-for-times answer is too early).
    """

    def __init__(
        self,
        brokers: str,
        events_topic: str,
        labels_topic: str = "",
        *,
        start: str = "earliest",
        stop_at_end: bool = False,
        max_events: int = 1000,
        max_ms: int = 100,
        startup_timeout_s: float = 10.0,
        merge_wait_ms: int = 200,
        consumer_config: dict[str, Any] | None = None,
        starts: Mapping[str, int] | None = None,
        ends: Mapping[str, int] | None = None,
        time_ranges: Mapping[str, tuple[int | None, int | None]] | None = None,
    ) -> None:
        self.brokers = brokers
        self.topics = {"events": events_topic}
        if labels_topic:
            self.topics["labels"] = labels_topic
        self.start = start
        self.stop_at_end = stop_at_end
        self.max_events = max_events
        self.max_ms = max_ms
        self.startup_timeout_s = startup_timeout_s
        self.merge_wait_ms = merge_wait_ms
        self.consumer_config = dict(consumer_config or {})
        self.starts = dict(starts or {})
        self.ends = dict(ends or {})
        self.time_ranges = dict(time_ranges or {})

    @classmethod
    def of(cls, source: SourceSettings, batch: BatchSettings, **replay: Any) -> KafkaSource:
        """The source of a job's ``[source]`` and ``[batch]`` settings; ``replay`` are the
        keyword arguments ``starts``, ``ends`` and ``time_ranges`` of a replay."""
        return cls(
            source.brokers,
            source.events_topic,
            source.labels_topic,
            start=source.start,
            stop_at_end=source.stop_at_end,
            max_events=batch.max_events,
            max_ms=batch.max_ms,
            startup_timeout_s=source.startup_timeout_s,
            merge_wait_ms=source.merge_wait_ms,
            **replay,
        )

    def list_parts(self) -> list[str]:
        return ["merged"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: dict[str, int] | None
    ) -> _KafkaPartition:
        return self._watch(_KafkaPartition(self, resume_state or {}))


def kafka_consumer(brokers: str, extra: Mapping[str, Any] | None = None) -> Consumer:
    """A consumer that never commits, never resets an offset by itself and logs quietly."""
    return Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": "riverbed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # An offset the broker does not have is an error for the source to handle, never a
            # silent jump to the end (librdkafka's default) that would lose records.
            "auto.offset.reset": "error",
            "fetch.wait.max.ms": 50,
            "logger": kafka_logger(),
            **(extra or {}),
        }
    )


def topic_partitions(
    consumer: Consumer, brokers: str, topics: Mapping[str, str], deadline: float
) -> list[tuple[str, str, int]]:
    """``(role, topic, partition)`` of every partition of ``topics`` (by role), or a
    :class:`SourceError` naming the broker or the missing topic once ``deadline`` passes."""
    began = time.monotonic()
    try:
        meta = consumer.list_topics(timeout=max(deadline - began, 0.1))
    except KafkaException as exc:
        waited = time.monotonic() - began
        raise SourceError(
            f"kafka source: no answer from broker(s) {brokers} in {waited:.1f} s (source."
            f"startup_timeout_s) for the {' and '.join(map(repr, topics.values()))} "
            f"topic(s): {exc.args[0].str()}"
        ) from None
    tps = []
    for role, topic in topics.items():
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or not tmeta.partitions:
            why = f" ({tmeta.error.str()})" if tmeta is not None and tmeta.error else ""
            raise SourceError(
                f"kafka source: {role} topic {topic!r} does not exist on {brokers}{why}"
            )
        tps.extend((role, topic, p) for p in sorted(tmeta.partitions))
    return tps


def watermarks(
    consumer: Consumer, brokers: str, topic: str, part: int, deadline: float
) -> tuple[int, int]:
    """The low and high watermarks of a partition, or a :class:`SourceError` at ``deadline``."""
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, part), timeout=max(deadline - time.monotonic(), 0.1)
        )
    except KafkaException as exc:
        raise SourceError(
            f"kafka source: broker(s) {brokers} did not give the end offsets of topic "
            f"{topic!r} partition {part} within the start-up timeout "
            f"(source.startup_timeout_s): {exc.args[0].str()}"
        ) from None
    return int(low), int(high)


class _KafkaPartition(StatefulSourcePartition[RawBatch, dict[str, int]]):
    """The merge of every topic-partition, each read by its own consumer.

    One consumer per topic-partition, so that each is fetched on its own: with one consumer
    for all, a broker may fill every fetch response with one partition (noida-db serves a
    whole partition before the next one), and pausing the partition that runs ahead costs a
    refetch each time. A partition's consumer is read only when its buffer holds less than a
    batch, so buffers stay within two batches, and librdkafka's read-ahead is capped
    (``queued.max.messages.kbytes``): memory does not grow with the topics.
    """

    def __init__(self, src: KafkaSource, positions: dict[str, int]) -> None:
        self.src = src
        self.control = kafka_consumer(src.brokers, src.consumer_config)  # metadata, offsets
        self.consumers: dict[str, Consumer] = {}
        try:
            self._start(positions)
        except BaseException:
            self.close()
            raise

    def _start(self, positions: dict[str, int]) -> None:
        src = self.src
        deadline = time.monotonic() + src.startup_timeout_s
        tps = topic_partitions(self.control, src.brokers, src.topics, deadline)
        self.positions = dict(positions)
        self.ends: dict[str, int] = {}
        self.roles: dict[str, str] = {}
        self.order: dict[str, tuple[int, int]] = {}
        self.buffers: dict[str, deque[_Buffered]] = {}
        self.fetched: dict[str, int] = {}  # the next offset each consumer will deliver
        self.handed: Counter[str] = Counter()  # records handed over, by topic-partition
        self.tps = {f"{t}/{p}": TopicPartition(t, p) for _role, t, p in tps}
        default = OFFSET_BEGINNING if src.start == "earliest" else OFFSET_END
        read_ahead = {
            "queued.min.messages": max(4 * src.max_events, 1000),
            "queued.max.messages.kbytes": 4096,
            **src.consumer_config,
        }
        for role, topic, part in tps:
            key = f"{topic}/{part}"
            self.roles[key] = role
            self.order[key] = (0 if role == "events" else 1, part)
            self.buffers[key] = deque()
            begin = self.positions.get(key, src.starts.get(key, default))
            if src.stop_at_end:
                low, high = watermarks(self.control, src.brokers, topic, part, deadline)
                self.ends[key] = src.ends.get(key, high)
                if begin < 0:
                    begin = low if begin == OFFSET_BEGINNING else high
            self.fetched[key] = begin
            consumer = kafka_consumer(src.brokers, read_ahead)
            self.consumers[key] = consumer
            consumer.assign([TopicPartition(topic, part, begin)])
        self.eof: set[str] = set()
        self.idle_since: dict[str, float] = {}
        self.waiting_since: float | None = None
        self.awake: datetime | None = None
        self.out_of_range_since: dict[str, float] = {}

    def _done(self, key: str) -> bool:
        if not self.src.stop_at_end:
            return False
        if self.buffers[key]:
            return False
        return max(self.positions.get(key, 0), self.fetched[key]) >= self.ends[key]

    def _fetch(self) -> None:
        """Read the partitions whose buffer holds less than a batch."""
        n = self.src.max_events
        for key, buffer in self.buffers.items():
            if len(buffer) < n and not self._done(key):
                self._read(key, self.consumers[key].consume(n, timeout=0))

    def _read(self, key: str, messages: list[Any]) -> None:
        since, until = self.src.time_ranges.get(key, (None, None))
        buffer = self.buffers[key]
        order = self.order[key]
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self.eof.add(key)
                    continue
                if err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                    self._out_of_range(key)
                    return
                if err.fatal():
                    raise KafkaException(err)
                continue  # transient (broker away): librdkafka retries by itself
            offset = msg.offset()
            self.fetched[key] = offset + 1
            self.out_of_range_since.pop(key, None)
            if self.src.stop_at_end and offset >= self.ends[key]:
                continue
            self.eof.discard(key)
            self.idle_since.pop(key, None)
            _kind, ts = msg.timestamp()
            if (since is not None and ts < since) or (until is not None and ts >= until):
                if not buffer:
                    self.positions[key] = offset + 1
                continue
            buffer.append(_Buffered(ts, *order, offset, msg.value() or b""))

    def _out_of_range(self, key: str) -> None:
        """The broker does not have the offset the source asked for: records were deleted
        before the job read them (fail), or a restarted broker is not (yet) where it was
        (wait up to ``startup_timeout_s``, then fail); never skip records silently."""
        topic, part = self.tps[key].topic, self.tps[key].partition
        at = self.fetched[key]
        now = time.monotonic()
        first = self.out_of_range_since.setdefault(key, now)
        try:
            low, high = watermarks(self.control, self.src.brokers, topic, part, now + 5.0)
        except SourceError:
            low, high = 0, at  # no answer: the broker is away, try again
        where = f"kafka source: topic {topic!r} partition {part} on {self.src.brokers}"
        if at < low:
            raise SourceError(
                f"{where}: records {at}..{low - 1} were deleted (retention) before the job "
                f"read them; the oldest record left is {low}. Replay what is left with "
                "`riverbed replay`, or start the job afresh (new checkpoint directory)."
            )
        if at > high and now - first > self.src.startup_timeout_s:
            raise SourceError(
                f"{where}: the job has read up to offset {at}, but the broker now ends at "
                f"{high}: it lost records (restarted without its data?)"
            )
        # Ask again from the same offset (seek refuses a partition in this error state).
        time.sleep(0.2)
        consumer = self.consumers[key]
        consumer.unassign()
        consumer.assign([TopicPartition(topic, part, at)])

    def next_batch(self) -> list[RawBatch]:
        if shutdown.requested():
            raise StopIteration  # graceful stop: the batches handed over are the last
        self._fetch()
        now = time.monotonic()
        live = [k for k in self.buffers if not self._done(k)]
        if not live:
            raise StopIteration
        records = _Records()
        max_events = self.src.max_events
        while len(records) < max_events:
            heads = [k for k in live if self.buffers[k]]
            if not heads:
                break
            waiting = [k for k in live if not self.buffers[k] and not self._may_skip(k, now)]
            if waiting:
                break
            key = min(heads, key=lambda k: self.buffers[k][0].order())
            head = self.buffers[key].popleft()
            self.positions[key] = head.offset + 1
            records.add(self.roles[key], key, head.offset, head.ts_ms, head.value)
            live = [k for k in live if not self._done(k)]
        if not records:
            self.awake = _soon(5)
            return []
        if len(records) < max_events and live and not self._flush_due(now):
            # Not a full batch and more may come: put it back and wait (deterministic cuts).
            self._unread(records)
            self.awake = _soon(5)
            return []
        self.waiting_since = None
        self.awake = None
        self.handed.update(records.streams)
        return [records.batch()]

    def _may_skip(self, key: str, now: float) -> bool:
        """Whether the merge may go on without this (empty) topic-partition for now."""
        if self.src.stop_at_end:
            return False  # it has records left before its end: wait for them
        since = self.idle_since.setdefault(key, now)
        return key in self.eof and now - since >= self.src.merge_wait_ms / 1000

    def _flush_due(self, now: float) -> bool:
        if self.src.stop_at_end:
            return False
        if self.waiting_since is None:
            self.waiting_since = now
        return now - self.waiting_since >= self.src.max_ms / 1000

    def _unread(self, records: _Records) -> None:
        for key, offset, ts, value in reversed(
            list(zip(records.streams, records.offsets, records.ts_ms, records.values))
        ):
            self.buffers[key].appendleft(_Buffered(ts, *self.order[key], offset, value))
            self.positions[key] = offset

    def next_awake(self) -> datetime | None:
        return self.awake

    def progress(self) -> list[PartitionProgress]:
        """Each topic-partition's records handed over and lag (cached high watermarks: no
        request to the broker; safe to call from another thread)."""
        now = time.time()
        out = []
        for key, tp in self.tps.items():
            position = self.positions.get(key, self.fetched.get(key, -1))
            lag, lag_s = None, None
            consumer = self.consumers.get(key)
            try:
                high = consumer.get_watermark_offsets(tp, cached=True)[1] if consumer else -1
                head = self.buffers[key][0] if self.buffers[key] else None
            except (KafkaException, RuntimeError, IndexError):  # closed, or read meanwhile
                high, head = -1, None
            if high >= 0 and position >= 0:
                lag = max(high - position, 0)
                if not lag:
                    lag_s = 0.0
                elif head is not None:
                    lag_s = max(now - head.ts_ms / 1000, 0.0)
            out.append(PartitionProgress(tp.topic, tp.partition, self.handed[key], lag, lag_s))
        return out

    def snapshot(self) -> dict[str, int]:
        return dict(self.positions)

    def close(self) -> None:
        consumers, self.consumers = [*self.consumers.values(), self.control], {}
        if not getattr(self, "closed", False):
            self.closed = True
            for consumer in consumers:
                consumer.close()


# --- files -------------------------------------------------------------------------------------


class FileSource(_Watched, FixedPartitionedSource[RawBatch, int]):
    """Events with inline labels from a JSON Lines or CSV file (header row), in micro-batches.

    The resume state is the number of records already read.
    """

    def __init__(self, path: str, fmt: str = "jsonl", max_events: int = 1000) -> None:
        self.path = path
        self.fmt = fmt
        self.max_events = max_events

    def list_parts(self) -> list[str]:
        return ["file"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _IterPartition:
        try:
            f = open(self.path, newline="") if self.fmt == "csv" else open(self.path, "rb")
        except OSError as exc:
            raise SourceError(f"file source: cannot open {self.path}: {exc.strerror}") from None
        rows: Iterator[Any]
        if self.fmt == "csv":
            rows = csv.DictReader(f)
        else:
            rows = (line.rstrip(b"\r\n") for line in f if line.strip())
        name = self.path.rsplit("/", 1)[-1]
        return self._watch(_IterPartition(rows, name, resume_state or 0, self.max_events, f.close))


class SyntheticSource(_Watched, FixedPartitionedSource[RawBatch, int]):
    """The drifting synthetic stream of :mod:`flows.synthetic`, in micro-batches."""

    def __init__(self, n: int, drift_at: int, drift_width: int, seed: int, max_events: int) -> None:
        self.n = n
        self.drift_at = drift_at
        self.drift_width = drift_width
        self.seed = seed
        self.max_events = max_events

    def list_parts(self) -> list[str]:
        return ["synthetic"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _IterPartition:
        start = resume_state or 0
        rows = synthetic.events(self.n, self.drift_at, self.drift_width, self.seed, start=start)
        part = _IterPartition(rows, "synthetic", start, self.max_events, lambda: None, skip=False)
        return self._watch(part)


class _IterPartition(StatefulSourcePartition[RawBatch, int]):
    def __init__(
        self,
        rows: Iterator[Any],
        name: str,
        position: int,
        max_events: int,
        close: Any,
        skip: bool = True,
    ) -> None:
        self.rows = islice(rows, position, None) if skip else rows
        self.name = name
        self.position = position
        self.started = position
        self.max_events = max_events
        self._close = close

    def next_batch(self) -> list[RawBatch]:
        if shutdown.requested():
            raise StopIteration  # graceful stop: the batches handed over are the last
        chunk = list(islice(self.rows, self.max_events))
        if not chunk:
            raise StopIteration
        base = self.position
        self.position += len(chunk)
        n = len(chunk)
        batch = RawBatch(
            time.time(), ["events"] * n, [self.name] * n, range(base, base + n), [0] * n, chunk
        )
        return [batch]

    def snapshot(self) -> int:
        return self.position

    def progress(self) -> list[PartitionProgress]:
        return [PartitionProgress(self.name, 0, self.position - self.started)]

    def close(self) -> None:
        self._close()
