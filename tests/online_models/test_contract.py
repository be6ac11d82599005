"""The check suite every registered model passes through Learner: pickling, repeatability,
inputs left alone, features appearing and disappearing mid-stream."""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pytest

from online_models import registry
from online_models.learner import Learner
from tests.learners import learner as make_learner

REGRESSORS = {"linear_regression", "hoeffding_tree_regressor", "fast_linear_regression"}


def make(alias: str) -> Learner:
    params = {"seed": 0} if "seed" in inspect.signature(registry.resolve(alias)).parameters else {}
    task = "regression" if alias in REGRESSORS else "classification"
    return make_learner(alias, alias, params, task, window=100)


def stream(alias: str, n: int = 360, seed: int = 0):
    """Batches of (X, names, xs, ys): feature ``late`` appears at event 200, ``f0`` leaves."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 1.5]) + rng.normal(0, 0.3, n)
    ys = y.tolist() if alias in REGRESSORS else (y > 0).tolist()
    batches = []
    for s in range(0, n, 40):
        names = ["f0", "f1", "f2", "f3"] if s < 200 else ["f1", "f2", "f3", "late"]
        Xb = X[s : s + 40].copy()
        xs = [dict(zip(names, row, strict=True)) for row in Xb.tolist()]
        batches.append((Xb, names, xs, ys[s : s + 40]))
    return batches


def run(learner: Learner, batches) -> list:
    """Test-then-train over the batches; what the learner output, in order."""
    out = []
    for X, names, xs, ys in batches:
        preds = learner.predict(xs, X, names)
        out.append(preds)
        if learner.task == "classification":
            classes, P = learner.predict_proba(xs, X, names)
            out.append((classes, P.tolist()))
            learner.score(ys, preds, P, classes)
        else:
            learner.score(ys, preds)
        learner.learn(xs, ys, X, names)
    out.append(learner.summary())
    return out


ALIASES = sorted(registry.ALIASES)


@pytest.mark.parametrize("alias", ALIASES)
def test_pickle_round_trip_gives_identical_future_predictions(alias):
    batches = stream(alias)
    learner = make(alias)
    run(learner, batches[:4])
    clone = pickle.loads(pickle.dumps(learner))
    assert run(clone, batches[4:]) == run(learner, batches[4:])


@pytest.mark.parametrize("alias", ALIASES)
def test_same_seed_and_input_give_identical_output(alias):
    assert run(make(alias), stream(alias)) == run(make(alias), stream(alias))


@pytest.mark.parametrize("alias", ALIASES)
def test_inputs_are_not_mutated(alias):
    batches = stream(alias)
    before = copy.deepcopy(batches)
    run(make(alias), batches)
    for (X, names, xs, ys), (X0, names0, xs0, ys0) in zip(batches, before, strict=True):
        assert np.array_equal(X, X0) and names == names0 and xs == xs0 and ys == ys0


@pytest.mark.parametrize("alias", [a for a in ALIASES if a.startswith("fast_")])
def test_new_and_missing_features_mid_stream(alias):
    learner = make(alias)
    out = run(learner, stream(alias))
    assert learner.model.features == ["f0", "f1", "f2", "f3", "late"]
    assert all(p is not None for p in out[-3])
    weights = learner.model.weights
    assert np.all(np.isfinite(weights)) and np.any(weights[..., -1] != 0)
