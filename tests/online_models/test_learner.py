"""Learner: the vectorized and per-event paths, probabilities, top-k, scoring, registry names."""

from __future__ import annotations

import numpy as np
import pytest
from river import datasets

from online_models import registry
from online_models.errors import ModelError
from online_models.learner import BatchModel, proba_dicts, top_k
from online_models.linear import LinearRegression, LogisticRegression, SoftmaxRegression
from tests.learners import learner as make_learner


def phishing():
    rows = list(datasets.Phishing())
    names = list(rows[0][0])
    X = np.array([[x[n] for n in names] for x, _ in rows], dtype=float)
    return [x for x, _ in rows], X, names, [y for _, y in rows]


@pytest.mark.parametrize(
    "alias, cls",
    [
        ("fast_logistic_regression", LogisticRegression),
        ("fast_softmax_regression", SoftmaxRegression),
        ("fast_linear_regression", LinearRegression),
        ("online_models.linear.SoftmaxRegression", SoftmaxRegression),
    ],
)
def test_registry_builds_the_numpy_learners(alias, cls):
    model = registry.build(alias, {"lr": 0.05})
    assert type(model) is cls and model.lr == 0.05
    assert isinstance(model, BatchModel)
    assert alias in registry.known_names() or alias.startswith("online_models.")


def test_registry_refuses_other_modules_and_names_the_model():
    with pytest.raises(ModelError, match="unknown estimator"):
        registry.resolve("online_models.learner.Learner")
    with pytest.raises(ModelError, match="'fast_softmax_regression'.*optimizer"):
        registry.build("fast_softmax_regression", {"optimizer": "rmsprop"})
    with pytest.raises(ModelError, match="did you mean fast_logistic_regression"):
        registry.resolve("fast_logistic_regresion")


def test_river_learners_stay_on_the_dict_path():
    assert not make_learner("lr", "logistic_regression").vectorized
    assert not make_learner("t", "hoeffding_tree").vectorized


def test_vectorized_and_river_learners_agree_at_batch_size_one():
    xs, X, names, ys = phishing()
    fast = make_learner("fast", "fast_logistic_regression")
    slow = make_learner("slow", "logistic_regression")
    for i in range(400):
        c_fast, p_fast = fast.predict_proba(X=X[i : i + 1], names=names)
        c_slow, p_slow = slow.predict_proba([xs[i]])
        assert c_fast == c_slow == [False, True]
        assert np.allclose(p_fast, p_slow, atol=1e-9)
        assert fast.predict(X=X[i : i + 1], names=names) == slow.predict([xs[i]])
        fast.learn(None, ys[i : i + 1], X=X[i : i + 1], names=names)
        slow.learn(xs[i : i + 1], ys[i : i + 1])
    assert fast.events_learned == slow.events_learned == 400


def test_either_input_form_reaches_either_path():
    xs, X, names, ys = phishing()
    for alias in ("fast_logistic_regression", "logistic_regression"):
        a, b = make_learner("a", alias), make_learner("b", alias)
        a.learn(xs[:100], ys[:100])
        b.learn(None, ys[:100], X=X[:100], names=names)
        assert np.allclose(
            a.predict_proba(xs[100:120])[1], b.predict_proba(X=X[100:120], names=names)[1]
        )


def test_top_k_and_proba_dicts_from_a_multiclass_learner():
    rng = np.random.default_rng(0)
    labels = np.array(["cat", "dog", "owl", "eel"])
    y_idx = rng.integers(0, 4, 400)
    X = rng.normal(size=(400, 4)) + 2.0 * np.eye(4)[y_idx]
    m = make_learner("sm", "fast_softmax_regression", {"lr": 0.3}, pos_label=None)
    m.learn(None, labels[y_idx].tolist(), X=X, names=list("abcd"))
    classes, P = m.predict_proba(X=X[:5], names=list("abcd"))
    best = top_k(classes, P, 2)
    assert len(best) == 5 and all(len(row) == 2 for row in best)
    for row, probs in zip(best, P, strict=True):
        assert row[0][1] == probs.max() and row[0][1] >= row[1][1]
    assert [row[0][0] for row in best] == m.predict(X=X[:5], names=list("abcd"))
    dicts = proba_dicts(classes, P)
    assert set(dicts[0]) == set(labels) and sum(dicts[0].values()) == pytest.approx(1.0)
    assert top_k(classes, P, 10)[0][-1][1] == P[0].min()
    with pytest.raises(ModelError, match="k >= 1"):
        top_k(classes, P, 0)


def test_score_skips_none_predictions_and_fills_all_metrics():
    m = make_learner("lr", "fast_logistic_regression")
    proba = [{False: 0.2, True: 0.8}, {False: 0.5, True: 0.5}, {False: 0.9, True: 0.1}]
    m.score([True, False, False], [True, None, False], proba)
    s = m.summary()
    assert s["metrics"]["n"] == 2 and s["value"] == 1.0 and s["metric"] == "accuracy"
    assert s["metrics"]["cumulative"]["log_loss"] == pytest.approx(-np.log(0.8 * 0.9) / 2)
    assert s["vectorized"] is True


def test_regression_learner_and_its_metrics():
    m = make_learner(
        "reg", "fast_linear_regression", {"lr": 0.1, "intercept_lr": 0.1}, "regression"
    )
    X = np.array([[0.0], [1.0], [2.0]])
    for _ in range(300):
        m.learn(None, [1.0, 3.0, 5.0], X=X, names=["x"])
    preds = m.predict(X=X, names=["x"])
    assert preds == pytest.approx([1.0, 3.0, 5.0], abs=1e-3)
    m.score([1.0, 3.0, 5.0], preds)
    assert m.summary()["metric"] == "mae" and m.summary()["value"] < 1e-3
    with pytest.raises(ModelError, match="predict_proba needs a classifier"):
        m.predict_proba(X=X, names=["x"])


def test_sample_weight_errors_on_a_river_model_without_w():
    m = make_learner("nb", "gaussian_nb")
    with pytest.raises(ModelError, match="takes no sample weights"):
        m.learn([{"x": 1.0}], [True], sample_weight=[1.0])


def test_learner_errors():
    with pytest.raises(ModelError, match="task"):
        make_learner("x", "logistic_regression", task="ranking")
    with pytest.raises(ModelError, match="xs .dicts. or X"):
        make_learner("x", "fast_logistic_regression").predict()
    with pytest.raises(ModelError, match="numeric features"):
        make_learner("x", "fast_logistic_regression").predict([{"colour": "red"}])
