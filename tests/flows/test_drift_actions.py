"""Drift actions through the flow: a drift on a model's errors resets it, or starts a
challenger that replaces it once it is significantly better."""

from __future__ import annotations

import numpy as np

from tests.flows.helpers import read_jsonl, run_file


def stream(n, switch, seed=0):
    """The label is the sign of ``a`` until ``switch``, then the sign of ``b``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    y = np.where(np.arange(n) < switch, x[:, 0] > 0, x[:, 1] > 0)
    return [
        {"id": i, "ts": i, "a": float(x[i, 0]), "b": float(x[i, 1]), "label": int(y[i])}
        for i in range(n)
    ]


def run(tmp_path, drift):
    sinks = {
        "predictions": {"kind": "jsonl", "path": str(tmp_path / "predictions.jsonl")},
        "alerts": {"kind": "jsonl", "path": str(tmp_path / "alerts.jsonl")},
    }
    summary = run_file(
        tmp_path,
        stream(12_000, 6000),
        features={"numeric": ["a", "b"]},
        batch={"max_events": 50},
        models=[{"name": "tree", "estimator": "hoeffding_tree"}],
        drift=drift,
        sinks=sinks,
    )
    return summary, read_jsonl(tmp_path / "alerts.jsonl")


def test_a_challenger_trained_after_the_drift_replaces_the_stuck_model(tmp_path):
    summary, alerts = run(
        tmp_path,
        {"action": "challenger", "challenger": {"sample": 300, "min_events": 200, "alpha": 0.01}},
    )
    first_drift = next(a for a in alerts if a["kind"] == "drift" and a["detector"] == "adwin")
    assert first_drift["window"]["end_position"] > 6000
    start = next(a for a in alerts if a.get("kind") == "challenger_start")
    assert start["trained_on"] == 300 and start["position"] > first_drift["window"]["end_position"]
    promoted = [a for a in alerts if a.get("kind") == "challenger_promote"]
    assert promoted and promoted[0]["p_value"] < 0.01
    stat = promoted[0]["statistic"]
    assert stat["challenger_better"] > stat["incumbent_better"]
    # After the promotion the served model is the challenger: accuracy at the end is high.
    preds = read_jsonl(tmp_path / "predictions.jsonl")[-1000:]
    truth = {r["id"]: r["label"] for r in stream(12_000, 6000)}
    assert np.mean([p["prediction"] == truth[int(p["id"])] for p in preds]) > 0.9


def test_reset_model_action_starts_the_model_afresh(tmp_path):
    summary, alerts = run(tmp_path, {"action": "reset_model"})
    resets = [a for a in alerts if a.get("kind") == "model_reset"]
    assert resets and all(r["position"] > 6000 for r in resets)
    assert summary["drift_actions"]["model_resets"] == len(resets)
    assert summary["models"]["tree"]["events_learned"] < 6000  # learned since the last reset
