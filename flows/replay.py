"""``riverbed replay``: reprocess a slice of the Kafka topics into separate outputs.

A replay runs the job of a configuration over a bounded slice of its topics, e.g. to backtest a
challenger on last week's traffic, or to batch-predict a slice with a fixed model:

    riverbed replay job.toml --from 2026-01-05T00:00:00Z --to 2026-01-12T00:00:00Z \\
        --warm-start checkpoints/ --frozen --out backtests/week1

**Bounds.** ``--from`` is ``earliest``, an offset, or a timestamp; ``--to`` (exclusive) is
``end`` (the default: the end offsets at start), an offset, or a timestamp. A timestamp is
ISO-8601 (``2026-01-05T00:00:00Z``; no zone means UTC) or epoch milliseconds (an integer of 13
digits or more); an integer below ``10**12`` is an offset. ``offset:N`` and ``time:T`` force
the reading.

* An offset applies to every partition of the events topic. The labels topic follows in
  event time: its records from the timestamp of the first replayed event (the earliest over
  the partitions), up to that of the first event after the slice (the latest), are replayed.
* A timestamp applies to both topics: a record is replayed when its Kafka timestamp is in
  ``[from, to)``. The source seeks with offsets-for-times, then filters by record timestamp,
  so the slice is right even on a broker whose answer is too early (Tansu answers 0: it reads
  from the start and skips). A ``--to`` timestamp reads each partition up to its end offset at
  start and skips the records at or after it (Kafka timestamps need not grow with offsets).

The labels of the last events of a slice may lie after its end: those predictions are not
scored (they expire in the label join, counted).

**Outputs.** Every sink that writes to a file or a Kafka topic in the configuration writes to
``OUT/<sink>.jsonl`` instead (a replay never writes into the live job's outputs), the run
summary goes to ``OUT/summary.json``, and ``OUT/replay.json`` records the slice (offsets and
time ranges per partition), the flags and the warm start. ``OUT`` must be new or empty,
unless ``--force`` (or ``--checkpoint``, to resume an interrupted replay into it). No recovery
store is used (a replay is a bounded run; ``--checkpoint DIR`` asks for one, to resume an
interrupted replay), and no model checkpoints are written.

**Models.** ``--warm-start PATH`` starts from model checkpoints (:mod:`online_models.checkpoints`):
a directory gives every model its newest checkpoint there (as ``model_checkpoints.warm_start``
does), a checkpoint file (``NAME-vNNNN.pkl``) gives that version to the model ``NAME``; the
option may be repeated. The feature state saved with the first model's checkpoint is used when
there is one. ``--frozen`` predicts and scores without learning: no model learns, and the
policy, the deployment mode and the drift monitor stay as they are. A checkpoint carries the
serving rule's state beside the model, and a warm start restores it (the policy serves as it
had learned to). The summary's per-model metrics cover the slice alone; what the warm-started
models had been scored on before is reported apart, under ``warm_start_history``.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from flows.config import Config
from flows.errors import OptionsError
from flows.learn.step import LearnStep
from flows.runner import run_job
from flows.sinks import dumps
from flows.sources import KafkaSource, kafka_consumer, topic_partitions, watermarks
from online_models import checkpoints

__all__ = ["Bound", "Slice", "parse_bound", "plan_slice", "run_replay"]

EPOCH_MS_FROM = 10**12
"""Integers from here on are epoch milliseconds (2001-09-09 onwards), below it offsets."""


@dataclass(frozen=True)
class Bound:
    """One end of a slice: ``earliest``, ``end``, an ``offset`` or a ``time`` (epoch ms)."""

    kind: str
    value: int = 0

    def __str__(self) -> str:
        if self.kind == "offset":
            return f"offset {self.value}"
        if self.kind == "time":
            iso = datetime.fromtimestamp(self.value / 1000, timezone.utc).isoformat()
            return f"time {iso} ({self.value} ms)"
        return self.kind


def parse_bound(text: str, option: str = "--from") -> Bound:
    """Read a ``--from`` or ``--to`` value.

    >>> [str(parse_bound(t)) for t in ("earliest", "1234", "offset:5", "1767225600000")]
    ['earliest', 'offset 1234', 'offset 5', 'time 2026-01-01T00:00:00+00:00 (1767225600000 ms)']
    >>> parse_bound("2026-01-01T00:00:00.5Z").value, parse_bound("end", "--to").kind
    (1767225600500, 'end')
    >>> parse_bound("yesterday")
    Traceback (most recent call last):
    ...
    flows.errors.OptionsError: --from: expected earliest, an offset or a timestamp \
(ISO-8601 or epoch milliseconds), got 'yesterday'
    """
    t = text.strip()
    if option == "--from" and t == "earliest":
        return Bound("earliest")
    if option == "--to" and t in ("end", "latest"):
        return Bound("end")
    forced = None
    if t.startswith(("offset:", "time:")):
        forced, t = t.split(":", 1)
    if re.fullmatch(r"\d+", t):
        n = int(t)
        if forced == "offset" or (forced is None and n < EPOCH_MS_FROM):
            return Bound("offset", n)
        return Bound("time", n)
    if forced != "offset":
        try:
            when = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return Bound("time", round(when.timestamp() * 1000))
    first = "earliest" if option == "--from" else "end"
    raise OptionsError(
        f"{option}: expected {first}, an offset or a timestamp (ISO-8601 or epoch "
        f"milliseconds), got {text!r}"
    )


@dataclass
class Slice:
    """Where each topic-partition starts and ends, and which record times it keeps."""

    starts: dict[str, int] = field(default_factory=dict)
    ends: dict[str, int] = field(default_factory=dict)
    time_ranges: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            key: {
                "start": self.starts[key],
                "end": self.ends[key],
                "since_ms": self.time_ranges.get(key, (None, None))[0],
                "until_ms": self.time_ranges.get(key, (None, None))[1],
            }
            for key in self.starts
        }


def plan_slice(cfg: Config, start: Bound, end: Bound) -> Slice:
    """Resolve the bounds against the broker: start and end offset of every topic-partition,
    and the record-time range each keeps (see the module doc)."""
    s = cfg.source
    if s.kind != "kafka":
        raise OptionsError(f"replay reads Kafka topics; this job's source.kind is {s.kind!r}")
    if start.kind in ("offset", "time") and end.kind == start.kind and end.value < start.value:
        raise OptionsError(f"--to ({end}) is before --from ({start})")
    topics = {"events": s.events_topic}
    if s.labels_topic:
        topics["labels"] = s.labels_topic
    consumer = kafka_consumer(s.brokers)
    try:
        deadline = time.monotonic() + s.startup_timeout_s
        tps = topic_partitions(consumer, s.brokers, topics, deadline)
        marks = {
            f"{t}/{p}": (role, t, p, *watermarks(consumer, s.brokers, t, p, deadline))
            for role, t, p in tps
        }
        plan = Slice()
        events = {k: v for k, v in marks.items() if v[0] == "events"}
        labels = {k: v for k, v in marks.items() if v[0] == "labels"}
        # The events topic: offsets as given, or where the timestamps are.
        for key, (_role, topic, part, low, high) in events.items():
            plan.starts[key] = _start(consumer, start, topic, part, low, high, deadline)
            plan.ends[key] = high
            if end.kind == "offset":
                plan.ends[key] = min(max(end.value, plan.starts[key]), high)
            plan.time_ranges[key] = (
                start.value if start.kind == "time" else None,
                end.value if end.kind == "time" else None,
            )
        # The labels topic follows the events in time.
        since = start.value if start.kind == "time" else None
        until = end.value if end.kind == "time" else None
        if start.kind == "offset":
            at = _timestamps_at(consumer, events, plan.starts, deadline)
            since = min(at.values()) if at else None
            if since is None:  # no event in the slice: no label either
                since = 2**62
        if end.kind == "offset":
            at = _timestamps_at(consumer, events, plan.ends, deadline)
            until = max(at.values()) if at else None
        label_start = Bound("time", since) if since is not None else start
        for key, (_role, topic, part, low, high) in labels.items():
            plan.starts[key] = _start(consumer, label_start, topic, part, low, high, deadline)
            plan.ends[key] = high
            plan.time_ranges[key] = (since, until)
        return plan
    finally:
        consumer.close()


def _start(
    consumer: Any, bound: Bound, topic: str, part: int, low: int, high: int, deadline: float
) -> int:
    if bound.kind == "earliest":
        return low
    if bound.kind == "offset":
        return min(max(bound.value, low), high)
    if bound.value >= 2**62:
        return high
    try:
        (found,) = consumer.offsets_for_times(
            [TopicPartition(topic, part, bound.value)],
            timeout=max(deadline - time.monotonic(), 0.1),
        )
    except KafkaException as exc:
        raise OptionsError(
            f"--from: the broker did not say where time {bound.value} is in topic {topic!r} "
            f"partition {part}: {exc.args[0].str()}"
        ) from None
    if found.error is not None or found.offset < 0:
        return high  # no record at or after that time (or no answer: nothing to seek to)
    # A broker may answer too early (Tansu: 0); the source filters by timestamp anyway.
    return min(max(found.offset, low), high)


def _timestamps_at(
    consumer: Any,
    partitions: Mapping[str, tuple[str, str, int, int, int]],
    offsets: Mapping[str, int],
    deadline: float,
) -> dict[str, int]:
    """The timestamp of the record at ``offsets[key]`` of each partition that has one."""
    wanted = {
        k: offsets[k] for k, (_r, _t, _p, _low, high) in partitions.items() if offsets[k] < high
    }
    if not wanted:
        return {}
    consumer.assign(
        [TopicPartition(partitions[k][1], partitions[k][2], o) for k, o in wanted.items()]
    )
    found: dict[str, int] = {}
    try:
        while len(found) < len(wanted):
            if time.monotonic() > deadline + 10:
                missing = sorted(set(wanted) - set(found))
                raise OptionsError(f"no record could be read at the slice's bounds in {missing}")
            for msg in consumer.consume(100, timeout=0.2):
                key = f"{msg.topic()}/{msg.partition()}"
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF and err.fatal():
                        raise KafkaException(err)
                    continue
                if key in wanted and key not in found and msg.offset() == wanted[key]:
                    found[key] = msg.timestamp()[1]
    finally:
        consumer.unassign()
    return found


def replay_config(cfg: Config, out_dir: Path, checkpoint_dir: str = "") -> Config:
    """``cfg`` for a replay: drain a slice, sinks rewritten under ``out_dir``, no model
    checkpoints, a recovery store only if ``checkpoint_dir`` is given."""
    sinks = {
        name: replace(sink, kind="jsonl", path=str(out_dir / f"{name}.jsonl"))
        if sink.kind in ("jsonl", "kafka")
        else sink
        for name, sink in cfg.sinks.items()
    }
    return replace(
        cfg,
        source=replace(cfg.source, stop_at_end=True),
        sinks=sinks,
        checkpoint=replace(cfg.checkpoint, directory=checkpoint_dir),
        model_checkpoints=replace(cfg.model_checkpoints, directory=""),
    )


@contextmanager
def _warm_start_dir(cfg: Config, paths: Sequence[str]) -> Iterator[str]:
    """One directory holding the chosen checkpoints (a given directory as it is; files
    linked into a temporary one), for the job's ``model_checkpoints.warm_start``."""
    if not paths:
        yield cfg.model_checkpoints.warm_start
        return
    dirs = [p for p in paths if Path(p).is_dir()]
    files = [p for p in paths if not Path(p).is_dir()]
    if dirs and (files or len(dirs) > 1):
        raise OptionsError("--warm-start: give one directory, or checkpoint files")
    if dirs:
        yield dirs[0]
        return
    names = {m.name for m in cfg.models}
    with tempfile.TemporaryDirectory(prefix="riverbed-warm-start-") as tmp:
        chosen: dict[str, Path] = {}
        for text in files:
            pkl = Path(text).with_suffix(".pkl")
            row = _checkpoint_row(pkl)
            model = str(row["model"])
            if model not in names:
                raise OptionsError(
                    f"--warm-start {text}: a checkpoint of model {model!r}, but the job's "
                    f"models are {', '.join(sorted(names))}"
                )
            if model in chosen:
                raise OptionsError(f"--warm-start: two checkpoints of model {model!r}")
            chosen[model] = pkl
            for part in pkl.parent.glob(f"{pkl.stem}.*"):  # .pkl, .json, .features/.serving.pkl
                os.symlink(part.resolve(), Path(tmp) / part.name)
        yield tmp


def _checkpoint_row(pkl: Path) -> Mapping[str, Any]:
    if not pkl.parent.is_dir():
        raise OptionsError(f"--warm-start {pkl}: no such checkpoint")
    for row in checkpoints.list_checkpoints(pkl.parent):
        if Path(str(row.get("path", ""))).resolve() == pkl.resolve():
            return row
    raise OptionsError(f"--warm-start {pkl}: not a model checkpoint (no {pkl.stem}.json beside it)")


def run_replay(
    cfg: Config,
    start: Bound,
    end: Bound = Bound("end"),
    *,
    out_dir: str | Path,
    frozen: bool = False,
    warm_start: Sequence[str] = (),
    checkpoint_dir: str = "",
    force: bool = False,
) -> dict[str, Any]:
    """Replay the slice ``[start, end)`` of ``cfg``'s topics into ``out_dir``; return the run
    summary (also in ``out_dir/summary.json``). A non-empty ``out_dir`` is refused unless
    ``force`` (or a ``checkpoint_dir``: a resumed replay writes on into it)."""
    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()) and not (force or checkpoint_dir):
        raise OptionsError(
            f"--out {out}: the directory is not empty; give a new or empty one, or --force "
            "to write over its outputs"
        )
    if out.exists() and not out.is_dir():
        raise OptionsError(f"--out {out}: is a file, expected a directory")
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_slice(cfg, start, end)
    with _warm_start_dir(cfg, warm_start) as warm:
        job = replay_config(cfg, out, checkpoint_dir)
        job = replace(job, model_checkpoints=replace(job.model_checkpoints, warm_start=warm))
        source = KafkaSource.of(
            job.source, job.batch, starts=plan.starts, ends=plan.ends, time_ranges=plan.time_ranges
        )
        record = {
            "from": str(start),
            "to": str(end),
            "frozen": frozen,
            "warm_start": list(warm_start),
            "partitions": plan.describe(),
        }
        (out / "replay.json").write_bytes(dumps(record) + b"\n")

        history: dict[str, Any] = {}

        def adjust(learn: LearnStep) -> LearnStep:
            learn.frozen = frozen
            if warm:  # the slice's metrics are the slice's alone
                for learner in learn.learners:
                    before = learner.restart_metrics()
                    if before["events_learned"]:  # a model from a checkpoint
                        history[learner.name] = {
                            k: before[k] for k in ("metric", "value", "events_learned")
                        }
            return learn

        summary_path = out / "summary.json"
        summary = run_job(job, str(summary_path), source=source, adjust_learn=adjust)
        if history:
            summary["warm_start_history"] = history
            summary_path.write_bytes(dumps(summary) + b"\n")
        return summary
