"""Model selection through the flow: the served prediction follows the best model, and the
deployment modes (shadow, champion/challenger, canary) do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from tests.flows.helpers import read_jsonl, run_file

MODELS = [
    {"name": "tree", "estimator": "hoeffding_tree"},
    {"name": "lr", "estimator": "logistic_regression"},
]


def stream(n, switch, seed):
    """XOR of the signs until ``switch`` (a tree learns it, a linear model cannot), then a
    linear concept (the linear model adapts at once, the tree is stuck with its old splits)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    y = np.where(np.arange(n) < switch, (x[:, 0] > 0) ^ (x[:, 1] > 0), x[:, 0] + x[:, 1] > 0)
    return [
        {"id": i, "ts": i, "a": float(x[i, 0]), "b": float(x[i, 1]), "user": f"u{i % 997}",
         "label": int(y[i])}
        for i in range(n)
    ]  # fmt: skip


def run(tmp_path, data, **sections):
    return run_file(
        tmp_path, data, features={"numeric": ["a", "b"]}, batch={"max_events": 10},
        models=MODELS, **sections,
    )  # fmt: skip


def test_served_accuracy_beats_every_candidate_when_the_best_model_switches(tmp_path):
    s = run(
        tmp_path, stream(8000, 4000, 1), selection={"policy": "ucb1", "params": {"gamma": 0.99}}
    )
    best = max(m["value"] for m in s["models"].values())
    assert s["served"]["value"] > best + 0.05, (s["served"], s["models"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_served_accuracy_is_within_half_a_point_of_the_best_on_a_stationary_stream(tmp_path, seed):
    s = run(tmp_path, stream(6000, 6000, seed), selection={"policy": "ucb1"})
    best = max(m["value"] for m in s["models"].values())
    assert s["served"]["value"] >= best - 0.005, (s["served"]["value"], best)


def test_bandit_feedback_with_exp3_learns_from_the_served_model_only(tmp_path):
    s = run(
        tmp_path,
        stream(3000, 0, 4),  # linear from the start: the linear model is the better one
        selection={"policy": "exp3", "feedback": "bandit", "params": {"explore": 0.1}},
    )
    assert sum(s["selection"].values()) == 3000
    assert s["models"]["lr"]["value"] > s["models"]["tree"]["value"]
    assert s["selection"]["lr"] > 2 * s["selection"]["tree"]  # it earned the traffic


def test_shadow_mode_never_serves_the_shadow_models(tmp_path):
    s = run(
        tmp_path, stream(1000, 1000, 5), deployment={"mode": "shadow", "params": {"champion": "lr"}}
    )
    assert s["selection"] == {"tree": 0, "lr": 1000}
    assert s["models"]["tree"]["events_learned"] == 1000  # scored and trained all the same
    assert s["deployment"]["mode"] == "shadow"


def test_a_clearly_better_challenger_is_promoted_and_the_promotion_is_an_alert(tmp_path):
    sinks = {
        "predictions": {"kind": "jsonl", "path": str(tmp_path / "predictions.jsonl")},
        "alerts": {"kind": "jsonl", "path": str(tmp_path / "alerts.jsonl")},
    }
    s = run(
        tmp_path,
        stream(6000, 6000, 6),
        deployment={
            "mode": "champion_challenger",
            "params": {"champion": "lr", "window": 1000, "min_events": 500},
        },
        sinks=sinks,
    )
    assert s["deployment"]["serving"] == "tree"
    promotions = [a for a in read_jsonl(tmp_path / "alerts.jsonl") if a.get("kind") == "promotion"]
    assert promotions and promotions[0]["from"] == "lr" and promotions[0]["to"] == "tree"
    assert promotions[0]["p_value"] < 0.01


def test_canary_share_by_key_and_one_model_per_key(tmp_path):
    s = run(
        tmp_path,
        stream(5000, 5000, 7),
        metrics={"slices": []},
        deployment={"mode": "canary", "key_field": "user",
                    "params": {"champion": "tree", "canary": "lr", "share": 0.2, "margin": 1.0}},
    )  # fmt: skip
    preds = read_jsonl(tmp_path / "predictions.jsonl")
    by_user: dict[str, set[str]] = {}
    for p in preds:
        # where the routed model has no answer yet (an untrained tree), the other one serves
        if None not in p["predictions"].values():
            by_user.setdefault(f"u{int(p['id']) % 997}", set()).add(p["model"])
    assert all(p["prediction"] is not None for p in preds)
    assert all(len(models) == 1 for models in by_user.values())
    share = sum("lr" in m for m in by_user.values()) / len(by_user)
    assert abs(share - 0.2) < 0.05  # 997 keys: within about 2 standard errors
    assert s["selection"]["lr"] + s["selection"]["tree"] == 5000


def test_a_model_over_the_latency_budget_is_not_served_and_the_fallback_answers(tmp_path):
    models = [
        {"name": "knn", "estimator": "knn", "params": {"n_neighbors": 5}},
        {"name": "lr", "estimator": "logistic_regression"},
    ]
    s = run_file(
        tmp_path,
        stream(2000, 0, 8),
        features={"numeric": ["a", "b"]},
        batch={"max_events": 100},
        models=models,
        # k-NN is the champion, but it searches its window for every event: far slower than
        # the linear model, which answers in its place.
        deployment={"mode": "shadow", "params": {"champion": "knn"}},
        latency={"budget_ms": 0.1, "fallback": "lr"},
    )
    lat = s["latency"]
    assert lat["models"]["knn"]["latency_ms"] > 0.1  # about 0.8 ms per event here
    assert not lat["models"]["knn"]["allowed"] and lat["fallbacks"] > 0
    # k-NN is fast while its window is nearly empty, so it may serve the first batches; once
    # its window has filled (1000 events), it is over budget on every batch.
    late = read_jsonl(tmp_path / "predictions.jsonl")[1000:]
    assert {p["model"] for p in late} == {"lr"}
