"""A River model run through the whole flow scores exactly what River's own
``progressive_val_score`` gives on the same stream (equality, not approximation), with labels
inline and with labels delayed by d events, at any batch size."""

from __future__ import annotations

import orjson
import pytest
from river import datasets, evaluate, linear_model, metrics, tree
from river.datasets import synth

from flows.config import parse
from flows.runner import run_job


def write_stream(path, rows):
    with open(path, "wb") as f:
        for i, (x, y) in enumerate(rows):
            f.write(orjson.dumps({"id": i, "ts": i, **x, "label": y}) + b"\n")


def run_flow(tmp_path, rows, estimator, delay=0, batch=1):
    path = tmp_path / "stream.jsonl"
    write_stream(path, rows)
    features = list(rows[0][0])
    cfg = parse(
        {
            "source": {"kind": "file", "path": str(path), "label_delay": delay},
            "features": {"numeric": features, "scaler": "none"},
            "batch": {"max_events": batch},
            "models": [{"name": "m", "estimator": estimator}],
        }
    )
    return run_job(cfg)


def river_score(rows, model, delay=0):
    metric = metrics.Accuracy()
    evaluate.progressive_val_score(rows, model, metric, delay=delay or None)
    return metric.get()


def phishing():
    return [(x, y) for x, y in datasets.Phishing()]


def agrawal(n=3000):
    return [(x, bool(y)) for x, y in synth.Agrawal(classification_function=2, seed=7).take(n)]


@pytest.mark.parametrize("batch", [1, 1000])
@pytest.mark.parametrize("delay", [0, 25])
def test_phishing_logistic_regression_equals_progressive_val_score(tmp_path, delay, batch):
    rows = phishing()
    summary = run_flow(tmp_path, rows, "river.linear_model.LogisticRegression", delay, batch)
    expected = river_score(rows, linear_model.LogisticRegression(), delay)
    assert summary["models"]["m"]["value"] == expected
    assert summary["models"]["m"]["events_learned"] == len(rows)
    assert summary["predictions"] == len(rows)


@pytest.mark.parametrize("batch", [1, 7, 1000])
@pytest.mark.parametrize("delay", [0, 100])
def test_synthetic_stream_hoeffding_tree_equals_progressive_val_score(tmp_path, delay, batch):
    rows = agrawal()
    summary = run_flow(tmp_path, rows, "river.tree.HoeffdingTreeClassifier", delay, batch)
    expected = river_score(rows, tree.HoeffdingTreeClassifier(), delay)
    assert summary["models"]["m"]["value"] == expected
