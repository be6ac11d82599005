"""``riverbed validate CONFIG``: everything about a job that can be checked before it starts.

The configuration first (every error at once); then, on a valid configuration, the input file
(exists, readable, its header or first records carry the configured fields), the paths of the
file sinks (writable), the recovery store and the model checkpoint directory (usable), the
metrics port (free), and the job's steps (built as ``run`` builds them: models with their
parameters, warm starts loaded). With ``connect``, the Kafka broker(s) must answer within
``source.startup_timeout_s`` and the source's and the Kafka sinks' topics must exist.

Every problem found is one line naming its setting; they are raised together as a
:class:`~flows.errors.ConfigError` (exit code 2).
"""

from __future__ import annotations

import csv
import os
import socket
import time
from itertools import islice
from pathlib import Path

import orjson

from flows.config import Config, load
from flows.errors import CheckpointError, ConfigError
from flows.recovery import check_store, checkpoint_problem
from operators.errors import RiverbedError

__all__ = ["validate", "SAMPLE_ROWS"]

_QUIET = {"log_level": 0}  # the problems are reported as lines; no librdkafka log on top

SAMPLE_ROWS = 1000
"""Records of a JSON Lines input read to find the configured fields."""


def validate(path: str, connect: bool = False) -> str:
    """Check the job of ``path``; the line that says what was checked, or a ConfigError."""
    cfg = load(path)
    problems = [
        *_source(cfg),
        *_sinks(cfg),
        *_directories(cfg),
        *_metrics_port(cfg.job.metrics_port),
        *_steps(cfg),
    ]
    if connect:
        problems.extend(_kafka(cfg))
    if problems:
        raise ConfigError(problems, path)
    checked = ["configuration", f"{cfg.source.kind} source"]
    checked.append(f"{sum(s.kind != 'none' for s in cfg.sinks.values())} sink(s)")
    if cfg.checkpoint.directory:
        checked.append("recovery store")
    checked.append(f"{len(cfg.models)} model(s)")
    if connect and _uses_kafka(cfg):
        checked.append("broker and topics")
    return f"{path}: valid ({', '.join(checked)} checked)"


def _source(cfg: Config) -> list[str]:
    s = cfg.source
    if s.kind != "file":
        return []
    p = Path(s.path)
    if not p.exists():
        return [f"source.path: {s.path} does not exist"]
    if not p.is_file():
        return [f"source.path: {s.path} is not a file"]
    if not os.access(p, os.R_OK):
        return [f"source.path: {s.path} is not readable"]
    fields = _fields_seen(p, s.format)
    if isinstance(fields, str):
        return [f"source.path: {s.path}: {fields}"]
    schema, features = cfg.schema, cfg.features
    wanted = {
        "schema.id_field": [schema.id_field],
        "schema.label_field": [schema.label_field],
        "schema.weight_field": [schema.weight_field],
        "features.numeric": list(features.numeric),
        "features.categorical": list(features.categorical),
    }
    where = "the header" if s.format == "csv" else f"the first {SAMPLE_ROWS} records"
    out = []
    for key, names in wanted.items():
        missing = [n for n in names if n and n not in fields]
        if missing:
            out.append(f"{key}: {', '.join(map(repr, missing))} not in {where} of {s.path}")
    return out


def _fields_seen(path: Path, fmt: str) -> set[str] | str:
    """The fields of a CSV header or of the first records of a JSON Lines file, or what is
    wrong with the file."""
    try:
        if fmt == "csv":
            with open(path, newline="") as f:
                header = next(csv.reader(f), None)
            return set(header) if header else "empty, expected a header row"
        seen: set[str] = set()
        with open(path, "rb") as f:
            lines = islice((line for line in f if line.strip()), SAMPLE_ROWS)
            for n, line in enumerate(lines, 1):
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    return f"line {n} is not JSON (format = 'jsonl')"
                if isinstance(record, dict):
                    seen.update(record)
        return seen if seen else "no JSON object in its first records"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except OSError as exc:
        return f"cannot read: {exc.strerror}"


def _sinks(cfg: Config) -> list[str]:
    out = []
    for name, sink in cfg.sinks.items():
        if sink.kind != "jsonl":
            continue
        p = Path(sink.path)
        if p.is_dir():
            out.append(f"sinks.{name}.path: {sink.path} is a directory, expected a file")
        elif p.exists() and not os.access(p, os.W_OK):
            out.append(f"sinks.{name}.path: {sink.path} is not writable")
        elif not p.exists():
            problem = checkpoint_problem(p.parent)
            if problem:
                out.append(f"sinks.{name}.path: {p.parent}: {problem}")
    return out


def _directories(cfg: Config) -> list[str]:
    out = []
    for key, directory in (
        ("checkpoint.directory", cfg.checkpoint.directory),
        ("model_checkpoints.directory", cfg.model_checkpoints.directory),
    ):
        problem = checkpoint_problem(Path(directory)) if directory else ""
        if problem:
            out.append(f"{key}: {directory}: {problem}")
        elif directory and key == "checkpoint.directory":
            try:  # a store written by another configuration
                check_store(directory, cfg)
            except CheckpointError as exc:
                out.append(str(exc))
    return out


def _metrics_port(port: int) -> list[str]:
    if not port:
        return []
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server does
        try:
            s.bind(("", port))
        except OSError as exc:
            return [f"job.metrics_port: cannot serve on port {port}: {exc.strerror}"]
    return []


def _steps(cfg: Config) -> list[str]:
    from flows.dataflow import build_pipeline

    try:
        build_pipeline(cfg)
    except RiverbedError as exc:
        return exc.lines()
    return []


def _uses_kafka(cfg: Config) -> bool:
    return cfg.source.kind == "kafka" or any(s.kind == "kafka" for s in cfg.sinks.values())


def _kafka(cfg: Config) -> list[str]:
    from confluent_kafka import KafkaException

    from flows.sources import kafka_consumer, topic_partitions

    s = cfg.source
    out = []
    if s.kind == "kafka":
        topics = {
            "events": s.events_topic,
            **({"labels": s.labels_topic} if s.labels_topic else {}),
        }
        consumer = kafka_consumer(s.brokers, _QUIET)
        try:
            topic_partitions(consumer, s.brokers, topics, time.monotonic() + s.startup_timeout_s)
        except RiverbedError as exc:
            out.append(str(exc))
        finally:
            consumer.close()
    for name, sink in cfg.sinks.items():
        if sink.kind != "kafka":
            continue
        consumer = kafka_consumer(sink.brokers, _QUIET)
        try:
            meta = consumer.list_topics(timeout=s.startup_timeout_s)
            if sink.topic not in meta.topics or meta.topics[sink.topic].error is not None:
                out.append(f"sinks.{name}.topic: {sink.topic!r} does not exist on {sink.brokers}")
        except KafkaException as exc:
            out.append(f"sinks.{name}.brokers: no answer from {sink.brokers}: {exc.args[0].str()}")
        finally:
            consumer.close()
    return out
