"""Prequential metrics against River's metrics (and its Rolling wrapper) and numpy batch math."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from river import metrics as rm
from river import utils

from online_models import metrics as om
from online_models.errors import ModelError
from tests.cuts import CUTS, bounds, same_bits

TOL = 1e-9
WINDOW = 300
BATCHES = (1, 7, 137, 500, 3)  # uneven batch sizes, cycled


def binary_stream(n: int = 4000, seed: int = 0):
    """Labels, predicted labels and tie-free probabilities of True."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    p = 1.0 / (1.0 + np.exp(-(2.0 * y - 1.0 + rng.normal(0, 1.3, n))))
    return y.tolist(), (p > 0.5).tolist(), p


def multiclass_stream(n: int = 3000, k: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = [f"c{i}" for i in range(k)]
    return [labels[i] for i in y], [labels[i] for i in P.argmax(axis=1)], P, labels


def batches(n: int):
    start, sizes = 0, iter(np.resize(BATCHES, n))
    while start < n:
        end = min(n, start + int(next(sizes)))
        yield start, end
        start = end


def check_against_river(ours, river_metric, y, y_pred, river_input, proba=None, classes=None):
    for s, e in batches(len(y)):
        for i in range(s, e):
            river_metric.update(y[i], river_input[i])
        ours.update(y[s:e], y_pred[s:e], None if proba is None else proba[s:e], classes)
        assert ours.get() == pytest.approx(river_metric.get(), abs=TOL, rel=TOL)


@pytest.mark.parametrize(
    "ours, river_metric, uses_proba",
    [
        (lambda w: om.Accuracy(w), rm.Accuracy, False),
        (lambda w: om.LogLoss(w), rm.LogLoss, True),
        (lambda w: om.F1(w), rm.F1, False),
        (lambda w: om.MacroF1(w), rm.MacroF1, False),
    ],
    ids=["accuracy", "log_loss", "f1", "macro_f1"],
)
@pytest.mark.parametrize("rolling", [False, True], ids=["cumulative", "rolling"])
def test_binary_metrics_match_river(ours, river_metric, uses_proba, rolling):
    y, y_pred, p = binary_stream()
    dicts = [{False: 1.0 - q, True: q} for q in p]
    river = utils.Rolling(river_metric, WINDOW) if rolling else river_metric()
    check_against_river(
        ours(WINDOW if rolling else None),
        river,
        y,
        y_pred,
        p.tolist() if uses_proba else y_pred,
        proba=dicts,
    )


@pytest.mark.parametrize("rolling", [False, True], ids=["cumulative", "rolling"])
def test_macro_f1_multiclass_matches_river(rolling):
    y, y_pred, _, _ = multiclass_stream()
    river = utils.Rolling(rm.MacroF1, WINDOW) if rolling else rm.MacroF1()
    check_against_river(om.MacroF1(WINDOW if rolling else None), river, y, y_pred, y_pred)


@pytest.mark.parametrize("rolling", [False, True], ids=["cumulative", "rolling"])
@pytest.mark.parametrize("ours, river_metric", [(om.MAE, rm.MAE), (om.RMSE, rm.RMSE)])
def test_regression_metrics_match_river(ours, river_metric, rolling):
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 3000).tolist()
    y_pred = (np.array(y) + rng.standard_t(3, 3000)).tolist()
    river = utils.Rolling(river_metric, WINDOW) if rolling else river_metric()
    check_against_river(ours(WINDOW if rolling else None), river, y, y_pred, y_pred)


def exact_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted 1/2 (pairwise, O(P N))."""
    pos, neg = scores[y], scores[~y]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_rolling_auc_matches_river_and_numpy():
    y, y_pred, p = binary_stream(3000)
    ours, river = om.ROCAUC(WINDOW), rm.RollingROCAUC(WINDOW)
    for s, e in batches(len(y)):
        for i in range(s, e):
            river.update(y[i], p[i])
        ours.update(y[s:e], y_pred[s:e], [{True: q} for q in p[s:e]])
        lo = max(0, e - WINDOW)
        if len(set(y[lo:e])) < 2:
            assert ours.get() is None  # undefined (River says 0)
            continue
        assert ours.get() == pytest.approx(river.get(), abs=TOL)
        assert ours.get() == pytest.approx(exact_auc(p[lo:e], np.array(y[lo:e])), abs=TOL)


def test_rolling_auc_counts_ties_as_half():
    y = np.array([True, False, True, False, False, True] * 20)
    scores = np.round(np.linspace(0, 1, 120) + 0.3 * y, 1)  # many ties
    m = om.ROCAUC(window=50)
    m.update(y.tolist(), None, [{True: s} for s in scores])
    assert m.get() == pytest.approx(exact_auc(scores[-50:], y[-50:]), abs=TOL)


@pytest.mark.parametrize("bins", [10, 100, 1000])
def test_cumulative_auc_is_within_its_error_bound(bins):
    y, y_pred, p = binary_stream(4000, seed=2)
    m = om.ROCAUC(bins=bins)
    for s, e in batches(len(y)):
        m.update(y[s:e], y_pred[s:e], [{False: 1 - q, True: q} for q in p[s:e]])
    exact = exact_auc(p, np.array(y))
    bound = m.error_bound()
    assert abs(m.get() - exact) <= bound + 1e-12
    if bins == 1000:
        assert bound < 1e-3


def test_ece_and_brier_match_numpy():
    y, _, P, labels = multiclass_stream(2000)
    y_idx = np.array([labels.index(c) for c in y])
    ece, brier = om.ECE(bins=10), om.Brier(pos_label=None)
    ece_w, brier_w = om.ECE(WINDOW, bins=10), om.Brier(WINDOW, pos_label=None)
    for s, e in batches(len(y)):
        for m in (ece, brier, ece_w, brier_w):
            m.update(y[s:e], None, P[s:e], classes=labels)

    def numpy_ece(P, y_idx):
        conf, hit = P.max(axis=1), (P.argmax(axis=1) == y_idx).astype(float)
        b = np.minimum((conf * 10).astype(int), 9)
        total = 0.0
        for k in range(10):
            sel = b == k
            if sel.any():
                total += sel.sum() / len(P) * abs(hit[sel].mean() - conf[sel].mean())
        return total

    def numpy_brier(P, y_idx):
        return float(((P - np.eye(P.shape[1])[y_idx]) ** 2).sum(axis=1).mean())

    assert ece.get() == pytest.approx(numpy_ece(P, y_idx), abs=TOL)
    assert brier.get() == pytest.approx(numpy_brier(P, y_idx), abs=TOL)
    assert ece_w.get() == pytest.approx(numpy_ece(P[-WINDOW:], y_idx[-WINDOW:]), abs=TOL)
    assert brier_w.get() == pytest.approx(numpy_brier(P[-WINDOW:], y_idx[-WINDOW:]), abs=TOL)


def test_binary_brier_and_log_loss_match_numpy():
    y, y_pred, p = binary_stream(1000)
    yt = np.array(y, dtype=float)
    m = om.ClassificationMetrics(window=None)
    m.update(y, y_pred, np.column_stack([1 - p, p]), classes=[False, True])
    r = m.report()["cumulative"]
    assert r["brier"] == pytest.approx(np.mean((p - yt) ** 2), abs=TOL)
    assert r["log_loss"] == pytest.approx(
        -np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p)), abs=TOL
    )
    assert r["accuracy"] == pytest.approx(np.mean(np.array(y) == np.array(y_pred)), abs=TOL)


def test_dict_and_array_probabilities_agree():
    y, y_pred, P, labels = multiclass_stream(500)
    a, b = om.ClassificationMetrics(100, pos_label=None), om.ClassificationMetrics(100, None)
    a.update(y, y_pred, P, classes=labels)
    b.update(y, y_pred, [dict(zip(labels, row, strict=True)) for row in P])
    assert a.report() == b.report()


def test_a_label_missing_from_proba_has_probability_zero():
    m = om.LogLoss()
    m.update(["z"], ["a"], [{"a": 0.7, "b": 0.3}])
    assert m.get() == pytest.approx(-np.log(1e-15))


def test_report_is_json_ready_and_undefined_is_none():
    m = om.ClassificationMetrics(window=10)
    assert m.report()["cumulative"]["accuracy"] is None
    m.update([True, True], [True, False], [{True: 0.9}, {True: 0.4}])
    r = m.report()
    assert r["cumulative"]["roc_auc"] is None  # one class only
    assert r["rolling"]["window"] == 10 and r["n"] == 2
    json.dumps(r, allow_nan=False)
    reg = om.RegressionMetrics(window=5)
    reg.update([1.0, 2.0], [1.5, 2.5])
    json.dumps(reg.report(), allow_nan=False)


def test_rolling_window_larger_batches_than_window():
    y, y_pred, _ = binary_stream(1000)
    m = om.Accuracy(window=50)
    m.update(y, y_pred)
    assert m.get() == pytest.approx(np.mean(np.array(y[-50:]) == np.array(y_pred[-50:])))


def test_sliced_metrics_cap_pools_extra_slices_into_other():
    rng = np.random.default_rng(5)
    n = 2000
    countries = [f"k{int(i)}" for i in rng.zipf(1.5, n) % 40]
    y = (rng.random(n) < 0.5).tolist()
    y_pred = (rng.random(n) < 0.5).tolist()
    s = om.SlicedMetrics(["country", "device"], max_slices=5, window=None)
    for a, b in batches(n):
        s.update({"country": countries[a:b]}, y[a:b], y_pred[a:b])
    report = s.report()
    kept = [k for k in report["country"] if k != om.OTHER]
    assert len(kept) == 5 and om.OTHER in report["country"]
    first_five = list(dict.fromkeys(countries))[:5]
    assert kept == first_five
    for key, r in report["country"].items():
        sel = [
            i
            for i, c in enumerate(countries)
            if (c == key) or (key == om.OTHER and c not in first_five)
        ]
        assert r["n"] == len(sel)
        expected = np.mean([y[i] == y_pred[i] for i in sel])
        assert r["cumulative"]["accuracy"] == pytest.approx(expected, abs=TOL)
    assert list(report["device"]) == [om.MISSING]  # the field was never given
    json.dumps(report, allow_nan=False)


def test_sliced_regression():
    s = om.SlicedMetrics(["shop"], task="regression", window=None)
    s.update({"shop": ["a", "b", "a"]}, [1.0, 2.0, 3.0], [2.0, 2.0, 5.0])
    assert s.report()["shop"]["a"]["cumulative"]["mae"] == pytest.approx(1.5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: om.Accuracy(window=0), "window"),
        (lambda: om.LogLoss().update([True], [True]), "proba"),
        (lambda: om.Accuracy().update([True, False], [True]), "predictions"),
        (lambda: om.LogLoss().update([True], [True], np.ones((1, 3)), [0, 1]), "shape"),
        (lambda: om.LogLoss().update([True], [True], np.ones((1, 2))), "needs classes"),
        (lambda: om.SlicedMetrics(["a"]).update({"a": ["x"]}, [1, 0], [1, 1]), "values of 'a'"),
        (lambda: om.SlicedMetrics(["a"], max_slices=0), "max_slices"),
        (lambda: om.SlicedMetrics(["a"], task="ranking"), "task"),
    ],
)
def test_metric_errors(call, message):
    with pytest.raises(ModelError, match=message):
        call()


def _cut_stream(n: int = 2500, seed: int = 7):
    """Four classes and a fifth that appears late; probability mappings in shuffled key
    order, rounded so that the top class is often tied, some without the true class."""
    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b", "c", "d", "late"])
    y = rng.integers(0, 4, n)
    y[n // 2 :: 9] = 4
    logits = rng.normal(size=(n, 5)) + 1.2 * np.eye(5)[y]
    P = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)
    dicts = []
    for i in range(n):
        keys = rng.permutation(5 if i >= n // 2 else 4)
        d = {labels[k]: float(P[i, k]) for k in keys}
        if rng.random() < 0.05:
            d.pop(labels[y[i]], None)
        dicts.append(d)
    y_pred = [max(d, key=d.__getitem__) if d else "a" for d in dicts]
    return [str(labels[k]) for k in y], y_pred, dicts, P


def _reports_by_position(build, feed, n: int, cut: str, at: set[int] | None = None):
    """The report after each batch ending at a position in ``at`` (every batch if None)."""
    obj = build()
    reports = {}
    for a, b in bounds(n, cut):
        feed(obj, a, b)
        if at is None or b in at:
            reports[b] = obj.report()
    return reports, pickle.dumps(obj)


def _check_reports_for_any_cut(build, feed, n: int) -> None:
    """Every report after a batch of any cut equals the report at that position when the
    labels come one by one; so does the final state."""
    runs = {cut: _reports_by_position(build, feed, n, cut) for cut in CUTS[1:]}
    at = {position for reports, _ in runs.values() for position in reports}
    one_by_one, state = _reports_by_position(build, feed, n, "1", at)
    for cut, (reports, got_state) in runs.items():
        for position, report in reports.items():
            assert same_bits(report, one_by_one[position]), (cut, position)
        assert got_state == state, cut


@pytest.mark.parametrize("form", ["dicts", "array"])
def test_classification_reports_are_the_same_bits_for_any_cut(form: str) -> None:
    y, y_pred, dicts, P = _cut_stream()
    labels = ["a", "b", "c", "d", "late"]
    y_binary = [t == "a" for t in y]
    p_binary = [{True: d.get("a", 0.0), False: 1.0 - d.get("a", 0.0)} for d in dicts]

    def feed(m: om.ClassificationMetrics, a: int, b: int) -> None:
        if form == "dicts":
            m.update(y[a:b], y_pred[a:b], dicts[a:b])
        else:
            m.update(y[a:b], y_pred[a:b], P[a:b], classes=labels)

    _check_reports_for_any_cut(
        lambda: om.ClassificationMetrics(window=300, pos_label=None, ece_bins=7), feed, len(y)
    )
    _check_reports_for_any_cut(
        lambda: om.ClassificationMetrics(window=250, pos_label=True, auc_bins=50),
        lambda m, a, b: m.update(y_binary[a:b], [p > 0.5 for p in P[a:b, 0]], p_binary[a:b]),
        len(y),
    )


def test_regression_and_sliced_reports_are_the_same_bits_for_any_cut() -> None:
    rng = np.random.default_rng(8)
    n = 2500
    y = rng.normal(10, 3, n)
    y_pred = y + np.where(rng.random(n) < 0.01, 1e6, rng.standard_t(3, n))
    _check_reports_for_any_cut(
        lambda: om.RegressionMetrics(window=200),
        lambda m, a, b: m.update(y[a:b].tolist(), y_pred[a:b].tolist()),
        n,
    )
    yc, yc_pred, dicts, _ = _cut_stream(n, seed=9)
    country = [f"k{int(k)}" for k in rng.zipf(1.5, n) % 40]
    device = [None if k == 0 else f"d{k}" for k in rng.integers(0, 4, n).tolist()]
    _check_reports_for_any_cut(
        lambda: om.SlicedMetrics(["country", "device"], max_slices=4, window=100, pos_label=None),
        lambda m, a, b: m.update(
            {"country": country[a:b], "device": device[a:b]}, yc[a:b], yc_pred[a:b], dicts[a:b]
        ),
        n,
    )
