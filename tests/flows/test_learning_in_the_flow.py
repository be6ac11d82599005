"""Online learning through the flow: frozen features, warm starts from model checkpoints,
top-k probabilities and slices."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from river import base

from flows.config import parse
from flows.learn.lane import ChallengerSettings, Lane
from flows.learn.serving import Serving, ServingSettings
from flows.learn.step import LearnStep
from online_models.scoring import MetricsSettings, Scoring
from online_models.tasks import task
from operators.featurize import FeatureSpec, Featurizer
from operators.label_join import LabelJoin, LabelSettings
from operators.records import Batch, Events, FeatureBlock, Labels
from tests.flows.helpers import read_jsonl, run_file
from tests.learners import learner as make_learner


def rows(n, seed=0, start=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    country = rng.choice(["fr", "de", "it"], size=n)
    return [
        {"id": start + i, "ts": start + i, "a": float(x[i, 0]), "b": float(x[i, 1]),
         "country": str(country[i]), "label": int(x[i, 0] + 0.5 * x[i, 1] > 0)}
        for i in range(n)
    ]  # fmt: skip


class Recorder(base.Classifier):
    """A classifier that remembers what it predicted from and what it learned."""

    def __init__(self):
        self.predicted = []
        self.learned = []

    def predict_proba_one(self, x):
        self.predicted.append(dict(x))
        return {0: 0.5, 1: 0.5}

    def learn_one(self, x, y):
        self.learned.append(dict(x))


def test_models_learn_the_features_frozen_at_prediction_time():
    featurizer = Featurizer(FeatureSpec(numeric=("a",)))
    learner = make_learner("spy", "river.linear_model.LogisticRegression")
    learner.model = spy = Recorder()
    classification = task("classification")
    step = LearnStep(
        [Lane(0, learner, classification, None, "alert", ChallengerSettings())],
        Serving.build(ServingSettings(), ["spy"], 0),
        LabelJoin(LabelSettings(ttl_ms=10**9)),
        Scoring(MetricsSettings(), classification, ["spy"]),
        classification,
    )

    def batch(values, start, labels=None):
        times = range(start, start + len(values))
        events = Events.of([{"a": v} for v in values], ["a"], ids=[str(t) for t in times],
                           ts_ms=times)  # fmt: skip
        names, matrix = featurizer.transform_then_learn(events.numeric, events.categorical)
        block = FeatureBlock(names, matrix, featurizer.sparse)
        return Batch(events, labels or Labels(), features=block)

    step.update(batch([1.0, 2.0, 3.0], 0))  # predicted; labels come later
    # The scaler's statistics move on (large values) before the labels arrive.
    late = Labels.of(["0", "2"], [1, 0], [9, 9])
    late = Labels(late.ids, late.ts_ms, late.ys, late.sources, np.array([100, 101]))  # after all
    step.update(batch([100.0, 200.0], 3, late))
    assert spy.learned == [spy.predicted[0], spy.predicted[2]]
    # Event "2" (a = 3) was scaled with the mean 1.5 and deviation 0.5 of the values before it.
    assert spy.learned[1]["a"] == pytest.approx(3.0)


def test_top_k_probabilities_and_slices(tmp_path):
    summary = run_file(
        tmp_path,
        rows(600),
        features={"numeric": ["a", "b"]},
        models=[{"name": "lr", "estimator": "logistic_regression"}],
        metrics={"top_k": 2, "slices": ["country"], "window": 100},
    )
    preds = read_jsonl(tmp_path / "predictions.jsonl")
    later = preds[-1]["top_k"]
    assert [c for c, _ in later] in ([0, 1], [1, 0]) and sum(p for _, p in later) == pytest.approx(
        1
    )
    slices = summary["slices"]["country"]
    assert set(slices) == {"fr", "de", "it"}
    served = summary["served"]["metrics"]
    assert served["cumulative"]["accuracy"] == summary["served"]["value"]
    assert {"log_loss", "roc_auc", "f1", "brier", "ece"} <= set(served["cumulative"])


def run_models(tmp_path, data, **extra):
    return run_file(
        tmp_path,
        data,
        features={"numeric": ["a", "b"], "categorical": ["country"]},
        batch={"max_events": 50},
        models=[{"name": "lr", "estimator": "logistic_regression"}],
        **extra,
    )


def test_warm_start_continues_with_the_predictions_of_the_job_that_wrote_the_checkpoint(tmp_path):
    data = rows(2000, seed=3)
    full = tmp_path / "full"
    full.mkdir()
    ckpt = tmp_path / "ckpt"
    run_models(full, data, model_checkpoints={"directory": str(ckpt), "every_events": 1000})
    listing = subprocess.run(
        [sys.executable, "-m", "flows.cli", "models", "list", str(ckpt)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "lr" in listing.stdout and "1,000" in listing.stdout  # version 1: 1000 events learned
    # Keep only the checkpoint written after event 1000; a new job resumes from it.
    first = tmp_path / "first"
    first.mkdir()
    for f in ckpt.glob("lr-v0001*"):
        shutil.copy(f, first)
    second = tmp_path / "second"
    second.mkdir()
    run_models(second, data[1000:], model_checkpoints={"warm_start": str(first)})
    expected = read_jsonl(full / "predictions.jsonl")[1000:]
    got = read_jsonl(second / "predictions.jsonl")
    assert [p["predictions"] for p in got] == [p["predictions"] for p in expected]


def test_warm_start_with_another_feature_schema_is_an_error_at_start(tmp_path):
    ckpt = tmp_path / "ckpt"
    run_models(tmp_path, rows(200), model_checkpoints={"directory": str(ckpt)})
    job = tmp_path / "job.toml"
    job.write_text(
        f"""
[source]
kind = "synthetic"
events = 10
[features]
numeric = ["a"]
[[models]]
name = "lr"
estimator = "logistic_regression"
[model_checkpoints]
warm_start = "{ckpt}"
"""
    )
    out = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", str(job)], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "trained on feature schema" in out.stderr


def test_config_validates_policy_and_deployment_settings():
    base_cfg = {
        "source": {"kind": "synthetic"},
        "models": [{"name": "a", "estimator": "gaussian_nb"}],
    }
    with pytest.raises(Exception, match="selection.temperature"):
        parse(base_cfg | {"selection": {"policy": "softmax", "params": {"temperature": 1}}})
    with pytest.raises(Exception, match="deployment"):
        parse(base_cfg | {"deployment": {"mode": "canary", "params": {"share": 2}}})


def test_model_checkpoints_keep_the_newest_versions_per_model(tmp_path):
    from online_models import checkpoints

    ckpt = tmp_path / "ckpt"
    settings = {"directory": str(ckpt), "every_events": 200, "keep": 3}
    run_models(tmp_path, rows(2000, seed=3), model_checkpoints=settings)
    rows_ = checkpoints.list_checkpoints(ckpt)
    # 10 checkpoints written (every 200 labels of 2000), the last 3 kept.
    assert [(r["version"], r["events_learned"]) for r in rows_] == [
        (8, 1600), (9, 1800), (10, 2000),
    ]  # fmt: skip
    assert len(list(ckpt.iterdir())) == 12  # model, metadata, feature and serving state of each
