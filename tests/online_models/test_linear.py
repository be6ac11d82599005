"""The numpy linear learners against River (the oracle) and against closed-form numpy steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from river import datasets, linear_model, optim, preprocessing

from online_models.errors import ModelError
from online_models.linear import LinearRegression, LogisticRegression, SoftmaxRegression
from online_models.optimizers import Adam

TOL = 1e-9

OPTIMIZERS = {
    "sgd": (lambda: optim.SGD(0.01), {}),
    "sgd_fast": (lambda: optim.SGD(0.1), {"lr": 0.1}),
    "adam": (lambda: optim.Adam(0.05), {"optimizer": "adam", "lr": 0.05}),
    "adagrad": (lambda: optim.AdaGrad(0.1), {"optimizer": "adagrad"}),
}


def _row(x: dict) -> tuple[np.ndarray, list[str]]:
    return np.array([list(x.values())], dtype=float), list(x)


def synthetic(n: int, d: int = 8, seed: int = 3) -> list[tuple[dict[str, float], bool]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d)
    w = rng.normal(size=d)
    y = X @ w + rng.normal(size=n) > 0.5
    return [
        ({f"f{j}": float(v) for j, v in enumerate(row)}, bool(t))
        for row, t in zip(X, y, strict=True)
    ]


def max_gap_vs_river(stream, river_model, ours, weights=None) -> float:
    """Largest |p_river - p_ours| over a test-then-train pass with batch size 1."""
    gap = 0.0
    for i, (x, y) in enumerate(stream):
        X, names = _row(x)
        p_river = river_model.predict_proba_one(x)[True]
        p_ours = ours.predict_proba(X, names)[0, 1]
        gap = max(gap, abs(p_river - p_ours))
        if weights is None:
            river_model.learn_one(x, y)
            ours.learn(X, [y], names)
        else:
            river_model.learn_one(x, y, w=weights[i])
            ours.learn(X, [y], names, sample_weight=[weights[i]])
    return gap


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_logistic_regression_matches_river_on_phishing(opt):
    make_river_opt, ours_kwargs = OPTIMIZERS[opt]
    river_model = linear_model.LogisticRegression(optimizer=make_river_opt())
    ours = LogisticRegression(**ours_kwargs)
    assert max_gap_vs_river(datasets.Phishing(), river_model, ours) < TOL
    assert ours.intercept == pytest.approx(river_model.intercept, abs=TOL)
    river_w = river_model.weights
    assert {n: ours.weights[i] for i, n in enumerate(ours.features)} == pytest.approx(
        river_w, abs=TOL
    )


def test_logistic_regression_default_is_rivers_default():
    """No arguments on either side: SGD(0.01), intercept_lr 0.01, no l2."""
    gap = max_gap_vs_river(
        datasets.Phishing(), linear_model.LogisticRegression(), LogisticRegression()
    )
    assert gap < TOL


@pytest.mark.parametrize("opt", ["sgd_fast", "adam"])
def test_logistic_regression_matches_river_on_synthetic_with_l2_clip_intercept(opt):
    make_river_opt, ours_kwargs = OPTIMIZERS[opt]
    settings = {"l2": 0.01, "intercept_lr": 0.05, "intercept_init": 0.3, "clip_gradient": 0.5}
    river_model = linear_model.LogisticRegression(optimizer=make_river_opt(), **settings)
    ours = LogisticRegression(**ours_kwargs, **settings)
    assert max_gap_vs_river(synthetic(2000), river_model, ours) < TOL


def test_sample_weights_match_rivers_w():
    stream = synthetic(1500, seed=5)
    weights = np.random.default_rng(0).uniform(0.0, 4.0, size=len(stream)).tolist()
    river_model = linear_model.LogisticRegression(optimizer=optim.SGD(0.05))
    ours = LogisticRegression(lr=0.05)
    assert max_gap_vs_river(stream, river_model, ours, weights) < TOL


def test_feature_appearing_and_disappearing_mid_stream_matches_river():
    """A column first seen at event 400, and one that stops at event 900 (absent: untouched)."""
    stream = []
    for i, (x, y) in enumerate(synthetic(1500, seed=7)):
        x = dict(x)
        if i < 400:
            del x["f7"]
        if i >= 900:
            del x["f0"]
        stream.append((x, y))
    river_model = linear_model.LogisticRegression(optimizer=optim.Adam(0.05), l2=0.001)
    ours = LogisticRegression(optimizer="adam", lr=0.05, l2=0.001)
    assert max_gap_vs_river(stream, river_model, ours) < TOL
    assert ours.features[-1] == "f7"


def test_unknown_column_at_prediction_contributes_nothing_and_is_not_learned():
    m = LogisticRegression(lr=0.5)
    m.learn(np.array([[1.0, 2.0]]), [True], names=["a", "b"])
    base = m.predict_proba(np.array([[1.0, 2.0]]), names=["a", "b"])
    with_new = m.predict_proba(np.array([[5.0, 1.0, 2.0]]), names=["new", "a", "b"])
    assert np.array_equal(base, with_new)
    assert m.features == ["a", "b"]


def test_column_order_does_not_matter():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    y = X[:, 0] > 0
    a, b = LogisticRegression(lr=0.1), LogisticRegression(lr=0.1)
    for i in range(0, 50, 10):
        a.learn(X[i : i + 10], y[i : i + 10], names=["x", "y", "z"])
        b.learn(X[i : i + 10][:, ::-1], y[i : i + 10], names=["z", "y", "x"])
    assert np.allclose(
        a.predict_proba(X, ["x", "y", "z"]), b.predict_proba(X[:, [2, 0, 1]], ["z", "x", "y"])
    )


def test_batch_step_is_one_mean_gradient_step():
    """Closed form of River's learn_many: one SGD step with the mean weighted clipped gradient."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(64, 4))
    y = rng.random(64) < 0.4
    sw = rng.uniform(0.5, 2.0, size=64)
    m = LogisticRegression(lr=0.3, l2=0.1, intercept_lr=0.2, intercept_init=0.1)
    m.learn(X[:1], [True])  # non-zero weights before the checked step
    w0, b0 = m.weights.copy(), m.intercept
    m.learn(X, y, sample_weight=sw)
    p = 1.0 / (1.0 + np.exp(-(X @ w0 + b0)))
    g = (p - y) * sw
    expected_w = w0 - 0.3 * (X.T @ g / 64 + 0.1 * w0)
    assert np.allclose(m.weights, expected_w, atol=1e-12)
    assert m.intercept == pytest.approx(b0 - 0.2 * g.mean(), abs=1e-12)


def test_focal_loss_gradient_is_the_derivative_of_the_focal_loss():
    gamma = 2.0
    m = LogisticRegression(focal_gamma=gamma)
    z = np.linspace(-6, 6, 25)

    def focal(y, z):
        pt = 1 / (1 + np.exp(-(2 * y - 1) * z))
        return -((1 - pt) ** gamma) * np.log(pt)

    plain, nearly_plain = LogisticRegression(), LogisticRegression(focal_gamma=1e-12)
    for y in (0.0, 1.0):
        yv = np.full_like(z, y)
        numeric = (focal(yv, z + 1e-6) - focal(yv, z - 1e-6)) / 2e-6
        assert np.allclose(m._loss_gradient(yv, z), numeric, atol=1e-7)
        assert np.allclose(nearly_plain._loss_gradient(yv, z), plain._loss_gradient(yv, z))


def test_focal_loss_downweights_easy_examples():
    easy, hard = np.array([4.0]), np.array([-1.0])
    focal, plain = LogisticRegression(focal_gamma=2.0), LogisticRegression()
    ratio_easy = focal._loss_gradient(np.ones(1), easy) / plain._loss_gradient(np.ones(1), easy)
    ratio_hard = focal._loss_gradient(np.ones(1), hard) / plain._loss_gradient(np.ones(1), hard)
    assert ratio_easy[0] < 0.01 < ratio_hard[0]


@pytest.mark.parametrize("opt", ["sgd", "adam", "adagrad"])
def test_softmax_matches_river_softmax_without_intercept(opt):
    make_river_opt, ours_kwargs = OPTIMIZERS[opt]
    river_model = linear_model.SoftmaxRegression(optimizer=make_river_opt(), l2=0.001)
    ours = SoftmaxRegression(intercept_lr=0.0, l2=0.001, **ours_kwargs)
    scaler = preprocessing.StandardScaler()
    gap = 0.0
    for x, y in itertools.islice(datasets.ImageSegments(), 600):
        scaler.learn_one(x)
        x = scaler.transform_one(x)
        X, names = _row(x)
        expected = river_model.predict_proba_one(x)
        got = dict(zip(ours.classes, ours.predict_proba(X, names)[0], strict=True))
        assert set(got) == set(expected)
        gap = max([gap] + [abs(expected[c] - got[c]) for c in expected])
        river_model.learn_one(x, y)
        ours.learn(X, [y], names)
    assert gap < TOL
    assert len(ours.classes) == 7


def test_softmax_batch_step_closed_form_with_new_class():
    """A class unseen before the batch has probability 0 (clamped) in the batch's gradient."""
    rng = np.random.default_rng(4)
    m = SoftmaxRegression(lr=0.2, intercept_lr=0.1, l2=0.05)
    X0 = rng.normal(size=(5, 3))
    m.learn(X0, ["a", "b", "a", "b", "a"])
    W0, b0 = m.weights.copy(), m.intercepts.copy()
    X = rng.normal(size=(6, 3))
    y = ["a", "c", "b", "c", "a", "b"]
    m.learn(X, y)
    Z = X @ W0.T + b0
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    G = np.clip(np.column_stack([P, np.zeros(6)]), 1e-15, 1 - 1e-15)
    Y = np.array([[c == k for k in "abc"] for c in y], dtype=float)
    G -= Y
    W0 = np.vstack([W0, np.zeros(3)])
    assert m.classes == ["a", "b", "c"]
    assert np.allclose(m.weights, W0 - 0.2 * (G.T @ X / 6 + 0.05 * W0), atol=1e-12)
    assert np.allclose(m.intercepts, np.append(b0, 0.0) - 0.1 * G.mean(axis=0), atol=1e-12)


def test_softmax_before_any_class_predicts_none():
    m = SoftmaxRegression()
    assert m.predict_proba(np.ones((2, 3))).shape == (2, 0)
    assert m.predict(np.ones((2, 3))).tolist() == [None, None]


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_linear_regression_matches_river(opt):
    make_river_opt, ours_kwargs = OPTIMIZERS[opt]
    river_model = linear_model.LinearRegression(
        optimizer=make_river_opt(), intercept_lr=0.1, l2=0.001
    )
    ours = LinearRegression(intercept_lr=0.1, l2=0.001, **ours_kwargs)
    scaler = preprocessing.StandardScaler()
    gap = 0.0
    for x, y in datasets.TrumpApproval():
        scaler.learn_one(x)
        x = scaler.transform_one(x)
        X, names = _row(x)
        gap = max(gap, abs(river_model.predict_one(x) - ours.predict(X, names)[0]))
        river_model.learn_one(x, y)
        ours.learn(X, [y], names)
    assert gap < 1e-9 * 50  # targets are around 40: relative 1e-9


def test_optimizer_instance_is_copied_not_stepped():
    template = Adam(lr=0.2, beta_1=0.8)
    m = LogisticRegression(optimizer=template)
    m.learn(np.ones((3, 2)), [True, False, True])
    assert template.m is None and m._optimizer.beta_1 == 0.8


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: LogisticRegression(optimizer="adamw"), "optimizer"),
        (lambda: LogisticRegression(lr=0.0), "lr"),
        (lambda: LogisticRegression(l2=-1.0), "l2"),
        (lambda: LogisticRegression(class_weight="auto"), "class_weight"),
        (lambda: LogisticRegression(focal_gamma=-1.0), "focal_gamma"),
        (lambda: LogisticRegression().learn(np.ones((2, 1)), [1, 2]), "labels"),
        (lambda: LogisticRegression().learn(np.ones((2, 1)), ["yes", "no"]), "labels"),
        (lambda: LogisticRegression().learn(np.ones((2, 1)), [1]), "rows"),
        (lambda: LogisticRegression().learn(np.ones((1, 2)), [1], names=["a"]), "names"),
        (lambda: LogisticRegression().learn(np.ones((1, 2)), [1], names=["a", "a"]), "duplicate"),
        (lambda: LogisticRegression().learn(np.ones(2), [1, 0]), "2-D"),
        (lambda: LogisticRegression().learn(np.ones((1, 1)), [1], sample_weight=[-1]), "weight"),
        (lambda: LinearRegression().learn(np.ones((1, 1)), [np.nan]), "finite"),
    ],
)
def test_errors_name_the_setting(call, message):
    with pytest.raises(ModelError, match=message):
        call()


@pytest.mark.parametrize("cls", [LogisticRegression, SoftmaxRegression, LinearRegression])
def test_a_rejected_batch_leaves_the_model_unchanged(cls):
    m = cls()
    m.learn(np.ones((2, 1)), [True, False], names=["a"])
    before = (m.features, m.weights.copy(), getattr(m, "classes", None))
    bad_batches = [
        {"X": np.ones((1, 2)), "y": [True], "names": ["new", "new"]},
        {"X": np.ones((1, 2)), "y": [True], "names": ["new", "a"], "sample_weight": [-1.0]},
    ]
    for bad in bad_batches:
        with pytest.raises(ModelError):
            m.learn(**bad)
    assert m.features == before[0] and np.array_equal(m.weights, before[1])
    assert getattr(m, "classes", None) == before[2]
