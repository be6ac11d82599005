"""Online class weights and River's samplers on an imbalanced stream."""

from __future__ import annotations

import numpy as np
import pytest
from river import linear_model

from online_models.errors import ModelError
from online_models.imbalance import ClassWeights, wrap_sampler
from online_models.linear import LogisticRegression
from tests.learners import learner as make_learner


def imbalanced(n: int = 20_000, ratio: int = 50, seed: int = 11):
    """About one positive per ``ratio`` negatives; positives shifted by 0.8 on 6 features."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 1.0 / (ratio + 1)
    X = rng.normal(size=(n, 6)) + 0.8 * y[:, None]
    return X, y


def prequential_recall(model, X, y, batch=100) -> float:
    hits = positives = 0
    names = [f"x{j}" for j in range(X.shape[1])]
    for s in range(0, len(y), batch):
        Xb, yb = X[s : s + batch], y[s : s + batch]
        pred = model.predict(Xb, names)
        hits += int((pred & yb).sum())
        positives += int(yb.sum())
        model.learn(Xb, yb, names)
    return hits / positives


def test_class_weights_are_inverse_frequency():
    cw = ClassWeights()
    w = cw.update(["a"] * 9 + ["b"])
    # while "a" is the only class every weight is 1; "b" then weighs n / (k * n_b) = 10 / 2
    assert w.tolist() == pytest.approx([1.0] * 9 + [5.0])
    assert cw.weights() == pytest.approx({"a": 10 / 18, "b": 5.0})
    # weighted totals are equal: 9 * 10/18 == 1 * 5
    assert ClassWeights(max_weight=2.0).update(["a"] * 9 + ["b"])[-1] == 2.0


def test_each_label_is_weighed_as_of_itself_whatever_the_batch_cut():
    rng = np.random.default_rng(3)
    ys = rng.choice(["a", "b", "c"], p=[0.8, 0.15, 0.05], size=500).tolist()
    counts: dict[str, int] = {}
    oracle = []
    for i, y in enumerate(ys):  # the rule, one label at a time
        counts[y] = counts.get(y, 0) + 1
        oracle.append(min((i + 1) / (len(counts) * counts[y]), 100.0))
    for cuts in ([500], [1] * 500, [7] * 71 + [3]):
        cw, start, got = ClassWeights(), 0, []
        for size in cuts:
            got += cw.update(ys[start : start + size]).tolist()
            start += size
        assert got == oracle


def test_class_weights_beat_unweighted_on_minority_recall_at_1_to_50():
    X, y = imbalanced()
    plain = prequential_recall(LogisticRegression(lr=0.05), X, y)
    weighted = prequential_recall(LogisticRegression(lr=0.05, class_weight="balanced"), X, y)
    assert weighted > plain + 0.3, (plain, weighted)


def test_learner_class_weights_work_for_river_models_too():
    X, y = imbalanced(6000)
    xs = [{f"x{j}": v for j, v in enumerate(row)} for row in X.tolist()]
    recalls = []
    for class_weights in (False, True):
        lr = make_learner("lr", "logistic_regression", class_weights=class_weights)
        hits = 0
        for s in range(0, len(y), 50):
            preds = lr.predict(xs[s : s + 50])
            hits += sum(bool(p) and t for p, t in zip(preds, y[s : s + 50], strict=True))
            lr.learn(xs[s : s + 50], y[s : s + 50].tolist())
        recalls.append(hits / y.sum())
    assert recalls[1] > recalls[0] + 0.3, recalls


def test_sampler_wraps_river_classifier_and_is_seeded():
    X, y = imbalanced(3000)
    xs = [{f"x{j}": v for j, v in enumerate(row)} for row in X.tolist()]
    runs = []
    for _ in range(2):
        lr = make_learner(
            "lr",
            "logistic_regression",
            sampler="under",
            sampler_params={"desired_dist": {False: 0.5, True: 0.5}},
        )
        for s in range(0, len(y), 100):
            lr.learn(xs[s : s + 100], y[s : s + 100].tolist())
        runs.append(lr.predict_proba(xs[:50])[1])
        assert lr.model._trained_on_dist[False] < 0.2 * (~y).sum()  # majority under-sampled
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: wrap_sampler(linear_model.LogisticRegression(), "smote"), "sampler"),
        (lambda: wrap_sampler(LogisticRegression(), "under", {"desired_dist": {}}), "River"),
        (lambda: wrap_sampler(linear_model.LogisticRegression(), "hard", {"size": 3}), "p"),
        (lambda: make_learner("nb", "gaussian_nb", class_weights=True), "sample weights"),
        (
            lambda: make_learner("r", "linear_regression", task="regression", sampler="over"),
            "sampler",
        ),
        (lambda: ClassWeights(max_weight=0), "max_weight"),
    ],
)
def test_imbalance_errors(call, message):
    with pytest.raises(ModelError, match=message):
        call()
