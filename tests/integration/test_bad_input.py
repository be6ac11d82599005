"""The bad-input matrix, end to end through Kafka (the session's noida-db broker).

Each case produces a stream of good events (and their labels, on their own topic) with ONE bad
record slipped in after event ``BAD_AT``, runs the job on the topics until they are drained,
and checks what the case promises (a dead letter of its kind, or the handling stated), and
that the job kept going: every good event before and after the bad record was predicted, and
the models learned every label they should.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from flows.broker import create_topics
from flows.config import parse
from flows.runner import run_job
from tests.integration.procs import lines, produce, topics

N, BAD_AT, T0 = 300, 150, 1_767_225_600_000
LATENESS_MS = 1_000


def event(i: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": i,
        "ts": T0 + i,
        "salary": 20_000.0 + 371.0 * (i % 97),
        "age": 20.0 + i % 60,
        "car": f"car{i % 3}",
    }
    row.update(over)
    return {k: v for k, v in row.items() if v is not ...}


def label(i: int, **over: Any) -> dict[str, Any]:
    return {"id": i, "label": int(i % 97 > 40), **over}


good_label = label


@dataclass
class Case:
    """One bad record and what must become of it.

    ``events`` / ``labels``: raw values (bytes) for the slot after event ``BAD_AT``;
    ``instead_of_label``: the case's label replaces the good label of event ``BAD_AT``.
    """

    events: list[bytes] = field(default_factory=list)
    labels: list[bytes] = field(default_factory=list)
    instead_of_label: bool = False
    dead: str | None = None  # the dead-letter kind expected (None: no dead letter)
    role: str = "events"
    check: Callable[[dict[str, Any], Path], None] | None = None
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    predicted: int = N  # predictions expected
    learned: int = N  # events learned by each model
    string_ids: bool = False  # every id a string (a stream's ids are of one type)


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def _unknown_fields_ignored(summary: dict[str, Any], out: Path) -> None:
    (p,) = [p for p in lines(out / "predictions.jsonl") if p["id"] == "10009"]
    assert p["prediction"] is not None


def _unseen_category(summary: dict[str, Any], out: Path) -> None:
    (p,) = [p for p in lines(out / "predictions.jsonl") if p["id"] == "10010"]
    assert p["prediction"] is not None


def _null_label(summary: dict[str, Any], out: Path) -> None:
    # Its event was predicted; with no label it is never learned (it waits, then expires).
    assert BAD_AT in [int(p["id"]) for p in lines(out / "predictions.jsonl")]
    assert summary["labels_bad"] == 1


def _label_never_seen(summary: dict[str, Any], out: Path) -> None:
    assert summary["label_join"]["early_labels"] == 1  # waits for its event, then expires


def _duplicate(summary: dict[str, Any], out: Path) -> None:
    ids = [p["id"] for p in lines(out / "predictions.jsonl")]
    assert ids.count(str(BAD_AT)) == 1 and len(ids) == N
    assert summary["label_join"]["duplicate_events"] == 1
    assert summary["events_in"] == N + 1


def _out_of_order(summary: dict[str, Any], out: Path) -> None:
    assert "10012" in [p["id"] for p in lines(out / "predictions.jsonl")]


def _too_late(summary: dict[str, Any], out: Path) -> None:
    assert summary["bad_reasons"] == {"late_event": 1}
    (dead,) = lines(out / "dead_letters.jsonl")
    assert "behind the latest event time" in dead["reason"]
    assert orjson.loads(dead["raw"])["id"] == "10013"


def _oversize(summary: dict[str, Any], out: Path) -> None:
    (dead,) = lines(out / "dead_letters.jsonl")
    assert dead["role"] == "output" and dead["id"].startswith("predictions:")
    assert "over the limit of 4096 bytes" in dead["reason"]
    assert len(dead["raw"]) <= 1024  # a prefix of the record, not all of it


BIG_ID = "x" * 6000
CASES: dict[str, Case] = {
    "malformed JSON": Case(events=[b'{"id": "m-1", "salary": '], dead="malformed_json"),
    "JSON that is not an object": Case(events=[b'["not", "an", "object"]'], dead="not_an_object"),
    "missing id": Case(events=[dumps(event(0, id=...))], dead="missing_id"),
    "missing required feature": Case(
        events=[dumps(event(0, id=10001, salary=...))], dead="missing_feature"
    ),
    "string where a number belongs": Case(
        events=[dumps(event(0, id=10002, age="old"))], dead="wrong_type"
    ),
    "boolean where a number belongs": Case(
        events=[dumps(event(0, id=10003, salary=True))], dead="wrong_type"
    ),
    "NaN": Case(events=[b'{"id": 10004, "ts": 1, "salary": NaN, "age": 30}'], dead="not_finite"),
    "Infinity": Case(
        events=[b'{"id": 10005, "ts": 1, "salary": 5, "age": -Infinity}'], dead="not_finite"
    ),
    "1e400": Case(events=[b'{"id": 10006, "ts": 1, "salary": 1e400, "age": 3}'], dead="not_finite"),
    "deeply nested value": Case(
        events=[b'{"id": 10007, "salary": 1, "age": 2, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"],
        dead="too_deep",
    ),
    "nested value where a feature belongs": Case(
        events=[dumps(event(0, id=10008, car={"a": [[1]]}))], dead="wrong_type"
    ),
    "unknown fields": Case(
        events=[dumps(event(0, id=10009, zzz={"deep": [1, {"x": None}]}, other="text"))],
        check=_unknown_fields_ignored,
        predicted=N + 1,
    ),
    "unseen category": Case(
        events=[dumps(event(0, id=10010, car="a-car-never-seen"))],
        check=_unseen_category,
        predicted=N + 1,
    ),
    "null label": Case(
        labels=[dumps(label(BAD_AT, label=None))],
        instead_of_label=True,
        dead="null_label",
        role="labels",
        check=_null_label,
        learned=N - 1,
    ),
    "label for an id never seen": Case(labels=[dumps(label(0, id=10011))], check=_label_never_seen),
    "the same event twice": Case(events=[dumps(event(BAD_AT))], check=_duplicate),
    "out of order within the allowed lateness": Case(
        events=[dumps(event(0, id=10012, ts=T0 + BAD_AT - LATENESS_MS // 2))],
        check=_out_of_order,
        config={"source": {"allowed_lateness_ms": LATENESS_MS}},
        predicted=N + 1,
    ),
    "later than the allowed lateness": Case(
        events=[dumps(event(0, id=10013, ts=T0 + BAD_AT - 10 * LATENESS_MS))],
        dead="late_event",
        check=_too_late,
        config={"source": {"allowed_lateness_ms": LATENESS_MS}},
    ),
    "output over the broker's size limit": Case(
        events=[dumps(event(0, id=BIG_ID))],
        dead="output_too_large",
        role="output",
        check=_oversize,
        predicted=N + 1,  # predicted; its prediction record went to the dead letters
        string_ids=True,
    ),
    "output over the topic's max.message.bytes, as the broker reports it": Case(
        events=[dumps(event(0, id=BIG_ID))],
        dead="output_too_large",
        role="output",
        check=_oversize,
        predicted=N + 1,
        string_ids=True,
    ),
}


def config(brokers: str, ev: str, lab: str, out: Path, **tables: dict[str, Any]) -> Any:
    raw: dict[str, Any] = {
        "job": {"seed": 7},
        "source": {
            "kind": "kafka",
            "brokers": brokers,
            "events_topic": ev,
            "labels_topic": lab,
            "stop_at_end": True,
            "startup_timeout_s": 10.0,
        },
        "features": {
            "numeric": ["salary", "age"],
            "categorical": ["car"],
            "required": ["salary"],
            "max_categories": 3,
        },
        "batch": {"max_events": 64},
        "drift": {"warmup": 10_000},
        "models": [{"name": "lr", "estimator": "fast_logistic_regression"}],
        "sinks": {
            "predictions": {"kind": "jsonl", "path": str(out / "predictions.jsonl")},
            "dead_letters": {"kind": "jsonl", "path": str(out / "dead_letters.jsonl")},
        },
    }
    for name, keys in tables.items():
        raw.setdefault(name, {}).update(keys)
    return parse(raw)


def stream(ev: str, lab: str, case: Case) -> list[tuple[str, bytes, int]]:
    """Good events with their labels 5 events later, the case's records after ``BAD_AT``."""
    out = []

    def label(i: int, **over: Any) -> dict[str, Any]:
        return good_label(i, **({"id": str(i)} if case.string_ids else {}), **over)

    for i in range(N):
        out.append((ev, dumps(event(i, **({"id": str(i)} if case.string_ids else {}))), T0 + i))
        if i >= 5 and not (case.instead_of_label and i - 5 == BAD_AT):
            out.append((lab, dumps(label(i - 5)), T0 + i))
        if i == BAD_AT:
            out.extend((ev, v, T0 + i) for v in case.events)
            out.extend((lab, v, T0 + i) for v in case.labels)
    out.extend((lab, dumps(label(i)), T0 + N + i) for i in range(N - 5, N))
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_one_bad_record_among_good_ones(broker, tmp_path, name):
    case = CASES[name]
    ev, lab = topics(broker.address, "events", "labels")
    produce(broker.address, stream(ev, lab, case))
    tables = dict(case.config)
    if case.role == "output":
        # The limit is the sink's max_message_bytes, or the topic's own, which the broker
        # enforces (noida-db does) and reports.
        on_topic = "broker" in name
        preds = f"preds-{uuid.uuid4().hex[:8]}"
        limit = {"max.message.bytes": "4096"} if on_topic else {}
        create_topics(broker.address, [preds], config=limit)
        kafka = {"kind": "kafka", "brokers": broker.address, "topic": preds}
        tables["sinks"] = {
            "predictions": kafka if on_topic else {**kafka, "max_message_bytes": 4096}
        }
    cfg = config(broker.address, ev, lab, tmp_path, **tables)

    summary = run_job(cfg, str(tmp_path / "summary.json"))

    dead = lines(tmp_path / "dead_letters.jsonl")
    if case.dead is None:
        assert dead == [] and summary["bad_reasons"] == {}
    else:
        assert [d["kind"] for d in dead] == [case.dead]
        assert dead[0]["role"] == case.role and dead[0]["reason"]
        assert summary["bad_reasons"] == {case.dead: 1}
    # The job kept going: every good event was predicted, before and after the bad record,
    # and every label that has its event was learned.
    if case.role == "output":
        got = kafka_values(broker.address, preds)
        assert len(got) == N and all(len(v) < 4096 for v in got)
        ids = [orjson.loads(v)["id"] for v in got]
    else:
        ids = [p["id"] for p in lines(tmp_path / "predictions.jsonl")]
    assert {str(i) for i in range(N)} <= set(ids)
    assert summary["predictions"] == case.predicted
    assert summary["models"]["lr"]["events_learned"] == case.learned
    if case.check is not None:
        case.check(summary, tmp_path)


def kafka_values(brokers: str, topic: str) -> list[bytes]:
    c = Consumer({"bootstrap.servers": brokers, "group.id": "t", "enable.auto.commit": False})
    try:
        _low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, 0)])
        out: list[bytes] = []
        while len(out) < high:
            out.extend(m.value() for m in c.consume(1000, timeout=1.0) if m.error() is None)
        return out
    finally:
        c.close()


@pytest.mark.smoke
def test_an_empty_topic_ends_cleanly_with_a_zero_summary(broker, tmp_path):
    ev, lab = topics(broker.address, "events", "labels")
    summary = run_job(config(broker.address, ev, lab, tmp_path), str(tmp_path / "summary.json"))
    assert summary["events_in"] == summary["predictions"] == summary["events_bad"] == 0
    assert summary["stopped_by"] is None
    assert orjson.loads((tmp_path / "summary.json").read_bytes())["events_in"] == 0
