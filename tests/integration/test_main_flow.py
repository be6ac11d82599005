"""The main job end to end through a real broker: events and late labels on their own topics,
bad records among them, drift at a known point."""

from __future__ import annotations

import uuid

import orjson
import pytest

from flows.broker import create_topics
from flows.demo import demo_config
from flows.produce import produce_synthetic
from flows.runner import run_job

N, DRIFT, BAD_EVERY, DELAY = 20_000, 10_000, 1000, 500


@pytest.fixture(scope="module")
def run(broker, tmp_path_factory):
    tag = uuid.uuid4().hex[:8]
    events, labels = f"events-{tag}", f"labels-{tag}"
    create_topics(broker.address, [events, labels])
    produce_synthetic(
        broker.address, events, labels, N, DRIFT, seed=7, label_delay=DELAY, bad_every=BAD_EVERY
    )
    out = tmp_path_factory.mktemp("run")
    cfg = demo_config(
        broker.address,
        out,
        {"source": {"events_topic": events, "labels_topic": labels}, "job": {"progress_s": 0}},
    )
    summary = run_job(cfg, str(out / "summary.json"))
    return summary, out


def lines(path):
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_every_produced_event_is_counted(run):
    summary, _ = run
    bad = N // BAD_EVERY
    assert summary["events_in"] == N + bad
    assert summary["events_bad"] == bad
    assert summary["labels_in"] == N and summary["labels_joined"] == N


def test_a_prediction_for_every_valid_event_and_dead_letters_for_the_rest(run):
    summary, out = run
    predictions = lines(out / "predictions.jsonl")
    assert summary["predictions"] == N
    assert sorted(int(p["id"]) for p in predictions) == list(range(N))
    dead = lines(out / "dead_letters.jsonl")
    assert len(dead) == N // BAD_EVERY
    assert {d["kind"] for d in dead} == {
        "malformed_json",
        "not_an_object",
        "missing_id",
        "wrong_type",
    }


def test_served_accuracy_above_floor_and_models_learned_everything(run):
    summary, _ = run
    assert summary["served"]["value"] > 0.80
    for model in summary["models"].values():
        assert model["events_learned"] == N
    assert sum(summary["selection"].values()) == N


def test_drift_is_flagged_after_the_drift_point_and_not_long_before(run):
    summary, _ = run
    positions = [a["window"]["end_position"] for a in summary["drift"]]
    assert any(DRIFT < p < DRIFT + 3000 for p in positions), positions
    assert not any(p < DRIFT - 2000 for p in positions), positions


def test_summary_contract_keys(run):
    summary, out = run
    assert orjson.loads((out / "summary.json").read_bytes()) == summary
    for key in ["events_in", "events_bad", "predictions", "served", "models", "selection",
                "drift", "throughput_eps", "latency_ms", "checkpoints", "elapsed_s"]:  # fmt: skip
        assert key in summary
    assert set(summary["latency_ms"]) == {"p50", "p95", "p99"}
    assert summary["throughput_eps"] > 0
