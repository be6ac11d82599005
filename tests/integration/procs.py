"""Helpers of the integration tests: the ``riverbed`` command as a child process of THIS
checkout (never another installed copy), job configurations, topics, records, JSON Lines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from flows.broker import create_topics

ROOT = Path(__file__).resolve().parents[2]
RIVERBED = [sys.executable, "-m", "flows.cli"]
# Volatile parts of a run summary: they describe an execution, not the stream's state.
# Wall-clock figures, and the run page's timeline (wall times; points where batches end).
VOLATILE = ("elapsed_s", "throughput_eps", "latency_ms", "checkpoints", "stopped_by", "timeline")


def child_env() -> dict[str, str]:
    """The environment of a child ``riverbed``: this checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def riverbed(*args: str, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``riverbed ARGS`` to completion (from the checkout's root)."""
    return subprocess.run(
        [*RIVERBED, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=child_env(),
        **kw,
    )


def start_riverbed(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``riverbed ARGS`` in the background, its output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*RIVERBED, *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=child_env()
        )


def tag() -> str:
    return uuid.uuid4().hex[:10]


def topics(brokers: str, *names: str, partitions: int = 1) -> list[str]:
    """Create fresh topics named ``NAME-<random>``; return their names."""
    made = [f"{n}-{tag()}" for n in names]
    create_topics(brokers, made, partitions)
    return made


def produce(
    brokers: str,
    records: Iterable[tuple[str, bytes, int]],
    *,
    one_per_request: bool = False,
    partitions: int = 1,
) -> int:
    """Produce ``(topic, value, timestamp_ms)`` records in order; every delivery checked.
    With ``partitions`` > 1, a topic's records go to its partitions in turn."""
    conf: dict[str, Any] = {"bootstrap.servers": brokers, "linger.ms": 5}
    if one_per_request:
        conf.update({"linger.ms": 0, "batch.num.messages": 1})
    producer = Producer(conf)
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err.str())

    n, per_topic = 0, Counter[str]()
    for topic, value, ts in records:
        part = {"partition": per_topic[topic] % partitions} if partitions > 1 else {}
        per_topic[topic] += 1
        producer.produce(topic, value, timestamp=ts, on_delivery=delivered, **part)
        n += 1
        if one_per_request:
            producer.flush(30)
        elif n % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0 and not failed, failed[:3]
    return n


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def stable(summary: dict[str, Any]) -> dict[str, Any]:
    """The run summary without the fields that describe one execution."""
    return {k: v for k, v in summary.items() if k not in VOLATILE}


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def write_config(path: Path, tables: dict[str, Any]) -> Path:
    """Write a job configuration; ``tables`` maps a table name (``"sinks.predictions"``, or
    ``"models"`` for a list of tables) to its keys."""
    out = []
    for name, keys in tables.items():
        if isinstance(keys, list):
            for item in keys:
                out.append(f"[[{name}]]")
                out.extend(f"{k} = {toml_value(v)}" for k, v in item.items())
        else:
            out.append(f"[{name}]")
            out.extend(f"{k} = {toml_value(v)}" for k, v in keys.items())
    path.write_text("\n".join(out) + "\n")
    return path


def wait_for(what: Callable[[], bool], timeout: float, message: str) -> None:
    """Poll ``what`` until it is true; fail with ``message`` after ``timeout`` seconds (a
    guard against a hang, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout} s: {message}")
        time.sleep(0.02)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
