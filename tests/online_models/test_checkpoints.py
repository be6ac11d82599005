"""Model checkpoint files: round trip, versions, listing, schema and integrity checks."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from online_models import checkpoints as ck
from online_models.errors import ModelError
from online_models.learner import Learner
from tests.learners import learner as make_learner

NAMES = ["a", "b", "c"]
SCHEMA = ck.feature_schema_hash(NAMES)


def trained(name: str = "fraud", alias: str = "fast_logistic_regression") -> Learner:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] - X[:, 2] > 0).tolist()
    learner = make_learner(name, alias, {"lr": 0.1} if alias.startswith("fast") else {})
    for s in range(0, 300, 50):
        preds = learner.predict(X=X[s : s + 50], names=NAMES)
        learner.score(y[s : s + 50], preds)
        learner.learn(None, y[s : s + 50], X=X[s : s + 50], names=NAMES)
    return learner


def test_round_trip_gives_the_same_model(tmp_path):
    learner = trained()
    path = ck.save(tmp_path, learner, {"job": "j1", "offset": np.int64(42)}, schema_hash=SCHEMA)
    loaded = ck.load(path, SCHEMA)
    X = np.random.default_rng(1).normal(size=(20, 3))
    assert np.array_equal(
        loaded.predict_proba(X=X, names=NAMES)[1], learner.predict_proba(X=X, names=NAMES)[1]
    )
    assert loaded.summary() == learner.summary()


def test_metadata_beside_the_model(tmp_path):
    learner = trained()
    path = ck.save(tmp_path, learner, {"job": "j1"}, schema_hash=SCHEMA)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["format"] == ck.FORMAT and meta["format_version"] == ck.FORMAT_VERSION
    assert meta["model"] == "fraud" and meta["version"] == 1
    assert meta["estimator"] == "fast_logistic_regression" and meta["params"] == {"lr": 0.1}
    assert meta["events_learned"] == 300 and meta["schema_hash"] == SCHEMA
    assert meta["metrics"]["metric"] == "accuracy" and 0.5 < meta["metrics"]["value"] <= 1.0
    assert meta["extra"] == {"job": "j1"} and meta["saved_at"].endswith("+00:00")
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp files left


def test_versions_count_up_per_model_and_listing_is_sorted(tmp_path):
    fraud, churn = trained("fraud"), trained("churn", "logistic_regression")
    paths = [ck.save(tmp_path, fraud, schema_hash=SCHEMA) for _ in range(3)]
    ck.save(tmp_path, churn, schema_hash=SCHEMA)
    assert [p.name for p in paths] == ["fraud-v0001.pkl", "fraud-v0002.pkl", "fraud-v0003.pkl"]
    rows = ck.list_checkpoints(tmp_path)
    assert [(r["model"], r["version"]) for r in rows] == [
        ("churn", 1),
        ("fraud", 1),
        ("fraud", 2),
        ("fraud", 3),
    ]
    assert ck.latest(tmp_path, "fraud") == paths[-1]
    assert ck.latest(tmp_path, "nope") is None


def test_incomplete_and_foreign_files_are_not_listed(tmp_path):
    ck.save(tmp_path, trained(), schema_hash=SCHEMA)
    (tmp_path / "fraud-v0002.pkl").write_bytes(b"half written, no metadata yet")
    (tmp_path / "other-v0001.json").write_text('{"hello": 1}')
    (tmp_path / "notes.txt").write_text("hi")
    assert [r["version"] for r in ck.list_checkpoints(tmp_path)] == [1]
    # the orphan's version number is not reused
    assert ck.save(tmp_path, trained(), schema_hash=SCHEMA).name == "fraud-v0003.pkl"


def test_schema_mismatch_is_refused_with_a_clear_message(tmp_path):
    path = ck.save(tmp_path, trained(), schema_hash=SCHEMA)
    other = ck.feature_schema_hash(["a", "b", "c", "d"])
    with pytest.raises(ModelError, match=f"trained on feature schema '{SCHEMA}'.*'{other}'"):
        ck.load(path, other)
    assert ck.load(path, None).name == "fraud"  # inspection skips the check


def test_corrupt_or_newer_checkpoints_are_refused(tmp_path):
    path = ck.save(tmp_path, trained(), schema_hash=SCHEMA)
    blob = path.read_bytes()
    path.write_bytes(blob[:-1] + b"\x00")
    with pytest.raises(ModelError, match="does not match its metadata"):
        ck.load(path, SCHEMA)
    path.write_bytes(blob)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(meta | {"format_version": ck.FORMAT_VERSION + 1}))
    with pytest.raises(ModelError, match="newer"):
        ck.load(path, SCHEMA)
    (tmp_path / "x-v0001.json").write_text("{}")
    with pytest.raises(ModelError, match="not a riverbed model checkpoint"):
        ck.load(tmp_path / "x-v0001.pkl", SCHEMA)


def test_bad_names_and_directories(tmp_path):
    with pytest.raises(ModelError, match="model name"):
        ck.save(tmp_path, make_learner("../evil", "fast_logistic_regression"), schema_hash=SCHEMA)
    with pytest.raises(ModelError, match="not a directory"):
        ck.list_checkpoints(tmp_path / "missing")


def test_format_table_is_aligned_and_complete(tmp_path):
    ck.save(tmp_path, trained(), schema_hash=SCHEMA)
    ck.save(tmp_path, make_learner("fresh_tree", "hoeffding_tree"), schema_hash=SCHEMA)
    lines = ck.format_table(ck.list_checkpoints(tmp_path)).splitlines()
    assert lines[0].split()[:3] == ["MODEL", "VERSION", "ESTIMATOR"]
    assert "fraud-v0001.pkl" in lines[1] and "accuracy=0." in lines[1] and "300" in lines[1]
    assert "accuracy=-" in lines[2]  # no score yet
    assert lines[1].index("fast_logistic_regression") == lines[2].index("hoeffding_tree")
    assert lines[1].index("fraud-v0001.pkl") == lines[2].index("fresh_tree-v0001.pkl")


def test_keep_deletes_all_but_the_newest_versions_of_that_model(tmp_path):
    fraud, churn = trained("fraud"), trained("churn", "logistic_regression")
    ck.save(tmp_path, churn, schema_hash=SCHEMA, features={"scaler": 1})
    for _ in range(7):
        ck.save(tmp_path, fraud, schema_hash=SCHEMA, features={"scaler": 1}, keep=3)
    rows = ck.list_checkpoints(tmp_path)
    assert [(r["model"], r["version"]) for r in rows] == [
        ("churn", 1), ("fraud", 5), ("fraud", 6), ("fraud", 7),
    ]  # fmt: skip
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("fraud"))
    assert left == sorted(
        f"fraud-v{v:04d}{s}" for v in (5, 6, 7) for s in (".json", ".pkl", ".features.pkl")
    )
    # versions keep counting up after a prune
    assert ck.save(tmp_path, fraud, schema_hash=SCHEMA, keep=3).name == "fraud-v0008.pkl"
