"""The compiled per-event linear learners against River (the oracle) and plain-Python oracles.

Every comparison runs a test-then-train op sequence (predictions interleaved with labels learned
up to a few ops after their event) over dense, sparse (one-hot) and late columns, at batch sizes
1, 7 and 1000 with a different column order in every call: probabilities within 1e-9 of the
oracle, and bitwise the same results whatever the batch size.
"""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
from river import datasets, linear_model, optim, preprocessing

from online_models import linear_kernels as kernels
from online_models.errors import ModelError
from online_models.linear import LinearRegression, LogisticRegression, SoftmaxRegression
from online_models.optimizers import Adam
from operators.records import FeatureBlock
from tests.online_models.linear_streams import (
    PlainGLM,
    PlainSoftmax,
    as_dict,
    class_weight_sequence,
    make_ops,
    make_stream,
    pad,
    river_glm,
    river_optimizer,
    run_oracle,
    run_ours,
)

TOL = 1e-9
BATCHES = (1, 7, 1000)
OPTIMIZERS = {"sgd": None, "adam": 0.05, "adagrad": None}  # name -> lr (None: the default)
TUNED = {"l2": 0.01, "intercept_lr": 0.05, "intercept_init": 0.3, "clip_gradient": 0.5}


def max_gap(ours, oracle) -> float:
    """Largest probability gap, after checking the predicted labels where the oracle's margin
    leaves no doubt."""
    (preds, P), (r_preds, r_P) = ours, oracle
    assert len(preds) == len(r_preds) == len(P) == len(r_P)
    gap = 0.0
    for p, rp, row, r_row in zip(preds, r_preds, P, r_P, strict=True):
        gap = max([gap] + [abs(row.get(c, 0.0) - r_row.get(c, 0.0)) for c in {*row, *r_row}])
        top = sorted(r_row.values(), reverse=True)
        if not top or len(top) == 1 or top[0] - top[1] > 1e-6:
            assert p == rp
    return gap


def check_all_batch_sizes(make_model, stream, ops, oracle, sw=None, tol=TOL) -> None:
    """Ours at each batch size within ``tol`` of the oracle, and bitwise equal across sizes."""
    results = [run_ours(make_model(), stream, ops, b, sw) for b in BATCHES]
    for res in results:
        if res[1]:
            assert max_gap(res, oracle) < tol
            assert np.std([max(row.values(), default=0.0) for row in res[1]]) > 0.01  # it did learn
        else:
            gaps = [abs(a - b) for a, b in zip(res[0], oracle[0], strict=True)]
            assert max(gaps) < tol * max(abs(v) for v in oracle[0])
            assert np.std(res[0]) > 0.1
    for res in results[1:]:
        assert res == results[0]  # bitwise: lists of floats and dicts compare exactly


@pytest.mark.parametrize("settings", ["defaults", "tuned"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_logistic_regression_equals_river(opt, settings):
    stream = make_stream(600, "binary", seed=1)
    ops = make_ops(600, max_delay=6, seed=2, learn_share=0.9)
    kw = TUNED if settings == "tuned" else {}
    lr = OPTIMIZERS[opt]
    oracle = run_oracle(river_glm("logistic", opt, lr, **kw), stream, ops)
    check_all_batch_sizes(lambda: LogisticRegression(opt, lr, **kw), stream, ops, oracle)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_logistic_regression_sample_weights_equal_rivers_w(opt):
    stream = make_stream(500, "binary", seed=3)
    ops = make_ops(500, max_delay=4, seed=4)
    sw = np.random.default_rng(5).uniform(0.0, 3.0, size=500)
    lr = OPTIMIZERS[opt]
    oracle = run_oracle(river_glm("logistic", opt, lr, **TUNED), stream, ops, sw.tolist())
    check_all_batch_sizes(lambda: LogisticRegression(opt, lr, **TUNED), stream, ops, oracle, sw)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_balanced_class_weights_equal_river_with_the_class_weight_sequence(opt):
    stream = make_stream(600, "binary", seed=6)
    stream.y = [int(v and i % 3 == 0) for i, v in enumerate(stream.y)]  # a rare class 1
    ops = make_ops(600, max_delay=5, seed=7)
    sw = np.random.default_rng(8).uniform(0.5, 2.0, size=600)
    cw = class_weight_sequence(ops, stream.y)
    assert max(cw) > 2.0  # the weights do differ from 1
    weights = [a * b for a, b in zip(sw.tolist(), cw, strict=False)]
    lr = OPTIMIZERS[opt]
    oracle = run_oracle(river_glm("logistic", opt, lr), stream, ops, weights)
    check_all_batch_sizes(
        lambda: LogisticRegression(opt, lr, class_weight="balanced"), stream, ops, oracle, sw
    )


def test_the_plain_oracle_is_rivers_logistic_regression_at_gamma_zero():
    stream = make_stream(400, "binary", seed=9)
    ops = make_ops(400, max_delay=3, seed=10)
    for opt in OPTIMIZERS:
        plain = run_oracle(PlainGLM(0.0, opt, OPTIMIZERS[opt], **TUNED), stream, ops)
        river = run_oracle(river_glm("logistic", opt, OPTIMIZERS[opt], **TUNED), stream, ops)
        assert max_gap(plain, river) < TOL


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_focal_loss_equals_the_plain_oracle(opt):
    stream = make_stream(600, "binary", seed=11)
    ops = make_ops(600, max_delay=5, seed=12)
    sw = np.random.default_rng(13).uniform(0.0, 2.0, size=600)
    lr = OPTIMIZERS[opt]
    oracle = run_oracle(PlainGLM(2.0, opt, lr, **TUNED), stream, ops, sw.tolist())
    check_all_batch_sizes(
        lambda: LogisticRegression(opt, lr, focal_gamma=2.0, **TUNED), stream, ops, oracle, sw
    )


def test_focal_loss_gradient_is_the_derivative_of_the_focal_loss():
    gamma = 2.0

    def focal(y, z):
        pt = 1 / (1 + math.exp(-(2 * y - 1) * z))
        return -((1 - pt) ** gamma) * math.log(pt)

    for y, z in itertools.product((0.0, 1.0), np.linspace(-6, 6, 25).tolist()):
        numeric = (focal(y, z + 1e-6) - focal(y, z - 1e-6)) / 2e-6
        assert kernels._loss_gradient(kernels.FOCAL, gamma, y, z) == pytest.approx(
            numeric, abs=1e-7
        )
        nearly_log = kernels._loss_gradient(kernels.FOCAL, 1e-12, y, z)
        assert nearly_log == pytest.approx(kernels._loss_gradient(kernels.LOG, 0.0, y, z))
    easy = kernels._loss_gradient(kernels.FOCAL, gamma, 1.0, 4.0) / kernels._loss_gradient(
        kernels.LOG, 0.0, 1.0, 4.0
    )
    hard = kernels._loss_gradient(kernels.FOCAL, gamma, 1.0, -1.0) / kernels._loss_gradient(
        kernels.LOG, 0.0, 1.0, -1.0
    )
    assert easy < 0.01 < hard


@pytest.mark.parametrize("settings", ["defaults", "tuned"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_linear_regression_equals_river(opt, settings):
    stream = make_stream(600, "regression", seed=14)
    ops = make_ops(600, max_delay=6, seed=15, learn_share=0.9)
    kw = {**TUNED, "clip_gradient": 5.0} if settings == "tuned" else {}
    sw = np.random.default_rng(16).uniform(0.0, 2.0, size=600) if settings == "tuned" else None
    lr = OPTIMIZERS[opt]
    river = river_glm("regression", opt, lr, **kw)
    oracle = run_oracle(river, stream, ops, None if sw is None else sw.tolist(), proba=False)
    check_all_batch_sizes(lambda: LinearRegression(opt, lr, **kw), stream, ops, oracle, sw)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_softmax_regression_equals_river(opt):
    stream = make_stream(600, "multiclass", seed=17)
    ops = make_ops(600, max_delay=6, seed=18, learn_share=0.9)
    lr = OPTIMIZERS[opt]
    river = linear_model.SoftmaxRegression(optimizer=river_optimizer(opt, lr), l2=0.001)
    oracle = run_oracle(river, stream, ops)
    assert len(oracle[1][-1]) == 4 and "d" not in oracle[1][250]  # class "d" comes late
    check_all_batch_sizes(
        lambda: SoftmaxRegression(opt, lr, l2=0.001, intercept_lr=0.0), stream, ops, oracle
    )


def test_the_plain_softmax_oracle_is_rivers_without_intercepts_and_weights():
    stream = make_stream(400, "multiclass", seed=19)
    ops = make_ops(400, max_delay=3, seed=20)
    for opt, lr in OPTIMIZERS.items():
        river = linear_model.SoftmaxRegression(optimizer=river_optimizer(opt, lr), l2=0.01)
        plain = PlainSoftmax(opt, lr, l2=0.01)
        assert max_gap(run_oracle(plain, stream, ops), run_oracle(river, stream, ops)) < TOL


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_softmax_with_intercepts_sample_and_class_weights_equals_the_plain_oracle(opt):
    stream = make_stream(600, "multiclass", seed=21)
    ops = make_ops(600, max_delay=5, seed=22)
    sw = np.random.default_rng(23).uniform(0.0, 2.0, size=600)
    cw = class_weight_sequence(ops, stream.y)
    weights = [a * b for a, b in zip(sw.tolist(), cw, strict=False)]
    lr = OPTIMIZERS[opt]
    oracle = run_oracle(PlainSoftmax(opt, lr, l2=0.01, intercept_lr=0.05), stream, ops, weights)
    check_all_batch_sizes(
        lambda: SoftmaxRegression(opt, lr, l2=0.01, intercept_lr=0.05, class_weight="balanced"),
        stream, ops, oracle, sw,
    )  # fmt: skip


def test_logistic_regression_with_rivers_defaults_on_phishing():
    """Real data, predict then learn per event, no settings on either side."""
    rows = list(datasets.Phishing())
    names = list(rows[0][0])
    X = np.array([[x[n] for n in names] for x, _ in rows])
    ys = [y for _, y in rows]
    ops = np.tile([0, 1], len(rows)).astype(np.int8)
    river = linear_model.LogisticRegression()
    expected = []
    for x, y in rows:
        expected.append(river.predict_proba_one(x)[True])
        river.learn_one(x, y)
    ours = LogisticRegression()
    preds, P = ours.run(X, names, ops, np.repeat(np.arange(len(rows)), 2), ys)
    assert np.max(np.abs(P[:, 1] - expected)) < TOL
    assert ours.intercept == pytest.approx(river.intercept, abs=TOL)
    weights = dict(zip(ours.features, ours.weights.tolist(), strict=True))
    assert weights == pytest.approx(river.weights, abs=TOL)
    assert all(type(p) is bool for p in preds) and ours.classes == [False, True]


def test_softmax_on_image_segments_equals_river():
    scaler = preprocessing.StandardScaler()
    xs, ys = [], []
    for x, y in itertools.islice(datasets.ImageSegments(), 500):
        scaler.learn_one(x)
        xs.append(scaler.transform_one(x))
        ys.append(y)
    names = list(xs[0])
    X = np.array([[x[n] for n in names] for x in xs])
    river = linear_model.SoftmaxRegression(optimizer=optim.Adam(0.05))
    expected = []
    for x, y in zip(xs, ys, strict=True):
        expected.append(river.predict_proba_one(x))
        river.learn_one(x, y)
    ours = SoftmaxRegression("adam", 0.05, intercept_lr=0.0)
    preds, P = ours.run(X, names, np.tile([0, 1], 500), np.repeat(np.arange(500), 2), ys)
    ours_rows = [dict(zip(ours.classes, row, strict=True)) for row in P.tolist()]
    r_preds = [max(p, key=p.get) if p else None for p in expected]
    assert max_gap((preds, ours_rows), (r_preds, expected)) < TOL
    assert len(ours.classes) == 7


@pytest.mark.parametrize(
    "task, make_model",
    [
        ("binary", lambda: LogisticRegression("adam", 0.05, l2=0.01, class_weight="balanced")),
        ("regression", lambda: LinearRegression("adagrad", l2=0.01)),
        ("multiclass", lambda: SoftmaxRegression("adam", 0.05, class_weight="balanced")),
    ],
)
def test_random_cuts_and_a_pickle_mid_stream_change_nothing(task, make_model):
    stream = make_stream(400, task, seed=24)
    ops = make_ops(400, max_delay=8, seed=25)
    sw = np.random.default_rng(26).uniform(0.0, 2.0, size=400)
    X, names, sparse = stream.X, stream.names, stream.sparse
    kinds = [k for k, _ in ops]
    rows = [i for _, i in ops]
    learned = [stream.y[i] for k, i in ops if k == 1]

    def run(model, cuts):
        preds, probas = [], []
        for a, b in itertools.pairwise([0, *cuts, len(ops)]):
            s, e = sum(kinds[:a]), sum(kinds[:b])
            p, P = model.run(X, names, kinds[a:b], rows[a:b], learned[s:e], sw[s:e], sparse)
            preds.extend(p)
            if P is not None:
                probas.extend(dict(zip(model.classes, r, strict=True)) for r in P.tolist())
            if cuts and a == cuts[0]:
                model = pickle.loads(pickle.dumps(model))  # recovery mid-stream
        return preds, pad(probas, model), model

    whole = run(make_model(), [])
    rng = np.random.default_rng(27)
    for _ in range(3):
        cuts = sorted(rng.choice(np.arange(1, len(ops)), size=5, replace=False).tolist())
        cut = run(make_model(), cuts)
        assert cut[:2] == whole[:2]
        assert np.array_equal(cut[2].weights, whole[2].weights)


def test_stream_dicts_are_the_feature_blocks_dicts():
    """The oracles' dicts are what River models get from the learn step's FeatureBlock."""
    stream = make_stream(200, "binary", seed=28)
    X = stream.X[100:]  # after the late column appeared: no NaN padding
    block = FeatureBlock(tuple(stream.names), X, tuple(stream.sparse))
    assert block.dicts() == [as_dict(row, stream.names, stream.sparse) for row in X]


def test_absent_features_are_untouched_present_zeros_are_not():
    """Adam with L2: a sparse zero (absent) keeps its weight; a dense zero decays by L2."""
    m = LogisticRegression("adam", 0.1, l2=0.5)
    names = ["dense", "onehot"]
    m.learn(np.array([[1.0, 1.0]]), [1], names, sparse=[False, True])
    before = m.weights.copy()
    m.learn(np.array([[0.0, 0.0]]), [0], names, sparse=[False, True])
    assert m.weights[1] == before[1] and m.weights[0] != before[0]
    river = linear_model.LogisticRegression(optim.Adam(0.1), l2=0.5)
    river.learn_one({"dense": 1.0, "onehot": 1.0}, True)
    river.learn_one({"dense": 0.0}, False)
    assert m.weights.tolist() == pytest.approx([river.weights["dense"], river.weights["onehot"]])


def test_labels_keep_their_type():
    X = np.array([[1.0], [-1.0]])
    ints, bools, fresh = (
        LogisticRegression(lr=1.0),
        LogisticRegression(lr=1.0),
        LogisticRegression(),
    )
    ints.learn(X, [1, 0])
    bools.learn(X, np.array([True, False]))
    assert ints.predict(X) == [1, 0] and all(type(p) is int for p in ints.predict(X))
    assert bools.predict(X) == [True, False] and all(type(p) is bool for p in bools.predict(X))
    assert ints.classes == [0, 1] and bools.classes == [False, True]
    assert fresh.predict(X) == [False, False]  # before any label: River's booleans
    soft = SoftmaxRegression()
    soft.learn(X, np.array([3, 7]))
    assert soft.classes == [3, 7] and all(type(c) is int for c in soft.classes)


def test_a_class_is_unknown_before_its_first_label():
    m = SoftmaxRegression(lr=0.5)
    X = np.eye(2)
    preds, P = m.run(X, ["a", "b"], [0, 1, 0, 1, 0], [0, 0, 1, 1, 0], ["x", "y"])
    assert preds[0] is None and preds[1] == "x"
    assert m.classes == ["x", "y"] and P.shape == (3, 2)
    assert P[0].tolist() == [0.0, 0.0] and P[1].tolist() == [1.0, 0.0] and P[2, 1] > 0


def test_label_errors_refuse_with_a_reason():
    lr = LogisticRegression()
    errors = lr.label_errors([1, 0, 2, "cat", True, None])
    assert errors[:2] == [None, None] and all(e is not None for e in errors[2:])
    assert "two classes" in errors[2] and "bool label" in errors[4]
    lr.learn(np.ones((1, 1)), [True])
    assert lr.label_errors([1])[0] is not None and lr.label_errors([False]) == [None]
    reg = LinearRegression()
    assert reg.label_errors([1.5, 2, math.nan, "3", True]) == [
        None, None, *[f"target {v!r}: expected a finite number" for v in (math.nan, "3", True)]
    ]  # fmt: skip
    soft = SoftmaxRegression()
    errors = soft.label_errors(["a", ("t",), "b", 1, None, [1]])
    assert errors[0] is None and errors[2] is None
    assert "tuple label" in errors[1] and "number label" in errors[3]
    assert errors[4] is not None and "hashable" in errors[5]
    with pytest.raises(ModelError, match="two classes"):
        LogisticRegression().learn(np.ones((2, 1)), [1, 2])


def test_overflowing_updates_are_skipped_and_counted():
    huge = np.array([[1e300, 1.0]])
    normal = np.random.default_rng(29).normal(size=(50, 2))
    labels = (normal[:, 0] > 0).astype(int).tolist()
    for make in (
        lambda: LogisticRegression("adam"),
        lambda: LinearRegression(),
        lambda: SoftmaxRegression("adagrad"),
    ):
        a, b = make(), make()
        targets = labels if not isinstance(a, LinearRegression) else normal[:, 1].tolist()
        a.learn(normal[:25], targets[:25], ["x", "y"])
        b.learn(normal[:25], targets[:25], ["x", "y"])
        for _ in range(3):  # the first update may still be finite; its successors are not
            a.learn(huge, targets[:1], ["x", "y"])
        assert a.skipped >= 1 and b.skipped == 0
        assert np.all(np.isfinite(a.weights))
        a.learn(normal[25:], targets[25:], ["x", "y"])
        assert all(p is not None for p in a.predict(normal, ["x", "y"]))
    reg = LinearRegression(lr=0.1, intercept_lr=0.1)
    reg.learn(np.ones((200, 1)), [10.0] * 200)
    assert reg.weights[0] > 2.0 and reg.skipped == 0
    assert reg.predict(np.array([[1e308], [1.0]])) == [None, pytest.approx(10.0)]
    logit = LogisticRegression(lr=0.1)
    logit.learn(np.ones((5, 1)), [1] * 5)
    preds, P = logit.run(np.array([[1e308]]), None, [0], [0], [])
    assert preds == [1] and P.tolist() == [[0.0, 1.0]]  # an infinite score is a sure answer


def test_a_skipped_learn_op_leaves_the_model_as_if_unlearned():
    a, b = LinearRegression("adam"), LinearRegression("adam")
    X = np.array([[1.0, 2.0], [1e300, 1e300], [0.5, -1.0]])
    a.run(X, ["u", "v"], [1, 1, 1, 1], [0, 1, 1, 2], [1.0, 5.0, 5.0, 2.0])
    b.run(X, ["u", "v"], [1, 1], [0, 2], [1.0, 2.0])
    assert a.skipped == 2 and a.weights.tolist() == b.weights.tolist()
    assert a.intercept == b.intercept


def test_unknown_column_at_prediction_contributes_nothing_and_is_not_learned():
    m = LogisticRegression(lr=0.5)
    m.learn(np.array([[1.0, 2.0]]), [True], names=["a", "b"])
    base = m.predict_proba(np.array([[1.0, 2.0]]), names=["a", "b"])
    with_new = m.predict_proba(np.array([[5.0, 1.0, 2.0]]), names=["new", "a", "b"])
    assert np.array_equal(base, with_new)
    assert m.features == ["a", "b"]


def test_optimizer_instance_is_settings_only():
    template = Adam(lr=0.2, beta_1=0.8)
    a, b = LogisticRegression(optimizer=template), LogisticRegression(optimizer=template)
    a.learn(np.ones((3, 2)), [True, False, True])
    b.learn(np.ones((3, 2)), [True, False, True])
    river = linear_model.LogisticRegression(optim.Adam(0.2, beta_1=0.8))
    for y in [True, False, True]:
        river.learn_one({0: 1.0, 1: 1.0}, y)
    assert a.weights.tolist() == b.weights.tolist()
    assert a.weights.tolist() == pytest.approx(list(river.weights.values()), abs=TOL)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: LogisticRegression(optimizer="adamw"), "optimizer"),
        (lambda: LogisticRegression(lr=0.0), "lr"),
        (lambda: LogisticRegression(l2=-1.0), "l2"),
        (lambda: LogisticRegression(class_weight="auto"), "class_weight"),
        (lambda: LogisticRegression(focal_gamma=-1.0), "focal_gamma"),
        (lambda: LogisticRegression(clip_gradient=0.0), "clip_gradient"),
        (lambda: LogisticRegression(optimizer=Adam(), lr=0.1), "lr"),
        (lambda: Adam(beta_1=1.0), "beta_1"),
        (lambda: LogisticRegression().learn(np.ones((2, 1)), [1, 2]), "two classes"),
        (lambda: LogisticRegression().learn(np.ones((2, 1)), ["yes", "no"]), "two classes"),
        (lambda: LogisticRegression().learn(np.ones((2, 1)), [1]), "rows"),
        (lambda: LogisticRegression().learn(np.ones((1, 2)), [1], names=["a"]), "names"),
        (lambda: LogisticRegression().learn(np.ones((1, 2)), [1], names=["a", "a"]), "duplicate"),
        (lambda: LogisticRegression().learn(np.ones(2), [1, 0]), "2-D"),
        (lambda: LogisticRegression().learn(np.ones((1, 1)), [1], sample_weight=[-1]), "weight"),
        (lambda: LogisticRegression().learn(np.ones((1, 1)), [1], sparse=[1, 0]), "sparse"),
        (lambda: LinearRegression().learn(np.ones((1, 1)), [np.nan]), "finite"),
        (lambda: LogisticRegression().run(np.ones((1, 1)), None, [0, 2], [0, 0], []), "ops"),
        (lambda: LogisticRegression().run(np.ones((1, 1)), None, [0], [1], []), "rows"),
        (lambda: LogisticRegression().run(np.ones((1, 1)), None, [1], [0], []), "targets"),
    ],
)
def test_errors_name_the_setting(call, message):
    with pytest.raises(ModelError, match=message):
        call()


@pytest.mark.parametrize("cls", [LogisticRegression, SoftmaxRegression, LinearRegression])
def test_a_rejected_call_leaves_the_model_unchanged(cls):
    m = cls()
    m.learn(np.ones((2, 1)), [True, False] if cls is not LinearRegression else [1.0, 0.0], ["a"])
    before = pickle.dumps(m)
    bad_calls = [
        {"X": np.ones((1, 2)), "y": [True], "names": ["new", "new"]},
        {"X": np.ones((1, 2)), "y": [True], "names": ["new", "a"], "sample_weight": [-1.0]},
    ]
    for bad in bad_calls:
        with pytest.raises(ModelError):
            m.learn(**bad)
    assert pickle.dumps(m) == before
