"""Batch size through the broker: events and their labels on two topics (each label produced
after its event, 40 events later in event time), read by the Kafka source at batch sizes 1, 7
and 1000: the predictions file, the alerts and the run summary are identical, byte for byte,
with a River model and a compiled learner under a random selection policy."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from flows.config import parse
from flows.runner import run_job
from tests.integration import streams
from tests.integration.procs import VOLATILE, produce, topics

N = 1500


@pytest.fixture(scope="module")
def stream(broker):
    events, labels = topics(broker.address, "events", "labels")
    produce(broker.address, streams.records(events, labels, N, seed=5, label_delay=40))
    return events, labels


def outputs(broker, stream, out: Path, batch: int) -> dict[str, bytes]:
    raw = streams.job(broker.address, *stream, str(out), batch={"max_events": batch})
    raw["models"] = [
        {"name": "river_lr", "estimator": "logistic_regression"},
        {"name": "fast_lr", "estimator": "fast_logistic_regression", "params": {"lr": 0.05}},
    ]
    summary = run_job(parse(raw))
    kept = {k: v for k, v in summary.items() if k not in VOLATILE}
    files = {n: (out / f"{n}.jsonl").read_bytes() for n in ("predictions", "alerts")
             if (out / f"{n}.jsonl").exists()}  # fmt: skip
    return {"summary": orjson.dumps(kept, option=orjson.OPT_SORT_KEYS), **files}


def test_labels_topic_gives_the_same_outputs_at_every_batch_size(broker, stream, tmp_path):
    runs = {b: outputs(broker, stream, tmp_path / f"b{b}", b) for b in (1, 7, 1000)}
    summary = orjson.loads(runs[1000]["summary"])
    assert summary["predictions"] == N and summary["labels_joined"] == N
    assert runs[1000]["predictions"].count(b"\n") == N
    for b in (1, 7):
        for name, value in runs[1000].items():
            assert runs[b][name] == value, f"batch size {b} changed {name}"
