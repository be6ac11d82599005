"""Feedback-loop monitor: entropy and shares against a direct numpy computation."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from online_models.errors import ModelError
from online_models.feedback_monitor import FeedbackMonitor
from tests.cuts import check_cut_invariance

ARMS = ["a", "b", "c"]


def direct_entropy(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def test_entropy_and_shares_equal_a_direct_computation_over_the_window():
    rng = np.random.default_rng(0)
    n, window = 5_000, 700
    arms = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    labels = np.array(["cat", "dog", "eel", "fox"])
    predictions = labels[rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])]
    monitor = FeedbackMonitor(ARMS, window=window)
    start = 0
    while start < n:
        size = int(rng.integers(1, 400))
        monitor.update(arms[start : start + size], list(predictions[start : start + size]))
        start += size
        report = monitor.report()
        lo = max(0, min(start, n) - window)
        w_arms, w_pred = arms[lo : min(start, n)], predictions[lo : min(start, n)]
        assert report["window_events"] == len(w_arms)
        assert report["prediction_entropy_bits"] == pytest.approx(direct_entropy(w_pred), abs=1e-12)
        assert report["arm_entropy_bits"] == pytest.approx(direct_entropy(w_arms), abs=1e-12)
        distinct = len(np.unique(w_pred))
        assert report["prediction_entropy_ratio"] == pytest.approx(
            direct_entropy(w_pred) / np.log2(distinct) if distinct > 1 else 0.0
        )
        for i, arm in enumerate(ARMS):
            assert report["arm_shares"][arm] == pytest.approx(np.mean(w_arms == i))
        for label in labels:
            share = np.mean(w_pred == label)
            assert report["prediction_shares"].get(str(label), 0.0) == pytest.approx(share)
    assert report["position"] == n
    json.dumps(report)


def test_a_collapsing_loop_raises_alerts_and_shows_in_the_history():
    monitor = FeedbackMonitor(
        ARMS, window=200, every=100, history=5, min_entropy_ratio=0.5, max_arm_share=0.9
    )
    rng = np.random.default_rng(1)
    for step in range(10):
        diverse = step < 5
        arms = rng.integers(0, 3, 100) if diverse else np.zeros(100, dtype=int)
        predictions = rng.choice(["x", "y", "z"], 100) if diverse else ["x"] * 99 + ["y"]
        monitor.update(arms, list(predictions))
        if step == 4:
            assert monitor.report()["alerts"] == []
    report = monitor.report()
    assert report["degenerate"]
    assert any("entropy" in a for a in report["alerts"]) and any(
        "'a'" in a for a in report["alerts"]
    )
    history = report["history"]
    assert [h["position"] for h in history] == [600, 700, 800, 900, 1000]
    assert history[0]["arm_shares"]["a"] < 0.9 < history[-1]["arm_shares"]["a"]
    assert history[0]["prediction_entropy_bits"] > history[-1]["prediction_entropy_bits"]


def test_numeric_predictions_are_binned_and_unknown_values_overflow():
    monitor = FeedbackMonitor(ARMS, window=10, bins=[0.0, 1.0])
    monitor.update([0, 0, 1, 1, 2], [-3.0, 0.5, 0.7, 9.0, float("nan")])
    shares = monitor.report()["prediction_shares"]
    assert shares == {"[-inf, 0.0)": 0.2, "[0.0, 1.0)": 0.4, "[1.0, inf)": 0.2, "nan": 0.2}
    capped = FeedbackMonitor(ARMS, max_classes=2)
    capped.update([0] * 5, [1, 2, 3, 4, 1])
    assert capped.report()["prediction_shares"] == {"1": 0.4, "2": 0.2, "__other__": 0.4}
    capped.update([0] * 1000, list(range(1000)))
    assert set(capped.report()["prediction_shares"]) == {"1", "2", "__other__"}  # bounded


def test_pickle_round_trip_and_no_mutation():
    monitor = FeedbackMonitor(ARMS, window=50, every=20)
    arms = np.array([0, 1, 2] * 20)
    arms.flags.writeable = False
    predictions = ("p", "q", None) * 20
    monitor.update(arms, predictions)
    clone = pickle.loads(pickle.dumps(monitor))
    for m in (monitor, clone):
        m.update(arms[:30], predictions[:30])
    assert clone.report() == monitor.report()
    assert "None" in monitor.report()["prediction_shares"]


def test_bad_settings_and_batches_are_refused():
    with pytest.raises(ModelError, match="monitor.bins"):
        FeedbackMonitor(ARMS, bins=[1.0, 0.0])
    with pytest.raises(ModelError, match="monitor.window"):
        FeedbackMonitor(ARMS, window=0)
    with pytest.raises(ModelError, match="monitor.max_arm_share"):
        FeedbackMonitor(ARMS, max_arm_share=2.0)
    monitor = FeedbackMonitor(ARMS, bins=[0.0])
    with pytest.raises(ModelError, match="update\\(predictions\\)"):
        monitor.update([0], [1.0, 2.0])
    with pytest.raises(ModelError, match="update\\(predictions\\)"):
        monitor.update([0], ["high"])
    with pytest.raises(ModelError, match="update\\(arms\\)"):
        monitor.update([3], [1.0])
    empty = FeedbackMonitor(ARMS).report()
    assert empty["prediction_entropy_bits"] == 0.0 and empty["window_events"] == 0


def test_figures_and_history_are_the_same_bits_for_any_cut():
    rng = np.random.default_rng(3)
    n = 4_000
    arms = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    arms[2_000:] = 0  # the loop collapses onto one arm
    predictions = [f"p{k}" for k in rng.zipf(1.4, n) % 60]  # more values than max_classes

    def build() -> FeedbackMonitor:
        return FeedbackMonitor(ARMS, window=300, every=70, history=20, max_classes=12)

    def feed(monitor: FeedbackMonitor, a: int, b: int) -> None:
        monitor.update(arms[a:b], predictions[a:b])

    check_cut_invariance(build, feed, n)
    monitor = build()
    feed(monitor, 0, n)
    history = monitor.report()["history"]
    assert [h["position"] for h in history] == list(range(70 * 38, 70 * 58, 70))
    for snapshot in history:  # each snapshot covers the window up to its own position
        at = snapshot["position"]
        assert snapshot["arm_entropy_bits"] == pytest.approx(
            direct_entropy(arms[at - 300 : at]), abs=1e-12
        )
