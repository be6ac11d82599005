"""FeatureDriftMonitor: detection on synthetic streams, false alarms, state and input contracts."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pytest
from scipy import stats

from operators.errors import OperatorError
from operators.feature_drift import FeatureDriftMonitor
from operators.stat_tests import clear_memo
from tests.cuts import check_cut_invariance

NAMES = [f"x{i}" for i in range(5)]
N, DRIFT, SPAN, WINDOW = 20_000, 10_250, 4_000, 500
SEEDS = range(20)


def drifting_stream(seed: int, kind: str, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    """5 numeric features and 1 categorical. From DRIFT on, x0 shifts by one standard
    deviation, x3 doubles its spread and the category frequencies change: at once
    ("abrupt"), or each event with a probability rising linearly over SPAN ("gradual")."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    t = np.arange(n)
    if kind == "abrupt":
        new = t >= DRIFT
    else:
        new = rng.random(n) < np.clip((t - DRIFT) / SPAN, 0.0, 1.0)
    x[new, 0] += 1.0
    x[new, 3] *= 2.0
    old_cats = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    new_cats = rng.choice(["a", "b", "c"], size=n, p=[0.3, 0.3, 0.4])
    return x, np.where(new, new_cats, old_cats).astype(object)[:, None]


def run(
    monitor: FeatureDriftMonitor, x: np.ndarray, cats: Any = None, batch: int = 700, at: int = 0
) -> list[dict[str, Any]]:
    """Feed rows ``at:`` in batches; event i has time 10 i ms and position i."""
    alerts = []
    for s in range(at, len(x), batch):
        e = min(s + batch, len(x))
        c = None if cats is None else cats[s:e]
        alerts += monitor.update(np.arange(s, e) * 10, x[s:e], c, np.arange(s, e))
    return alerts


@pytest.mark.parametrize("kind", ["abrupt", "gradual"])
def test_every_drift_is_detected_with_few_false_alarms(kind: str) -> None:
    """20 seeds; per detector: every drift found; median delay of the first alert on a drifted
    feature (its window's end - the drift point); false alarms (window tests before the drift
    with an alert)."""
    delays: dict[str, list[int]] = {"ks": [], "chi2": [], "psi": []}
    false_alarms = dict.fromkeys(delays, 0)
    for seed in SEEDS:
        x, cats = drifting_stream(seed, kind)
        alerts = run(FeatureDriftMonitor(NAMES, ["c"], window=WINDOW), x, cats)
        for detector in delays:
            mine = [a for a in alerts if a["detector"] == detector]
            hits = [
                a["window"]["end_position"] - DRIFT
                for a in mine
                if a["feature"] in {"x0", "x3", "c"} and a["window"]["end_position"] >= DRIFT
            ]
            assert hits, f"seed {seed}: {kind} drift missed by {detector}"
            delays[detector].append(min(hits))
            ends = {a["window"]["end_position"] for a in mine}
            false_alarms[detector] += sum(e < DRIFT for e in ends)
    tests_before = len(SEEDS) * (DRIFT // WINDOW - 1)  # windows after the reference
    limit = 2 * WINDOW if kind == "abrupt" else SPAN  # abrupt: the straddling or next window
    for detector, found in delays.items():
        print(
            f"\n{kind} drift, {detector}: median delay {np.median(found):.0f} events "
            f"(max {max(found)}), false alarms in {false_alarms[detector]}/{tests_before} "
            "window tests"
        )
        assert np.median(found) < limit
        assert false_alarms[detector] / tests_before <= 0.03


@pytest.mark.parametrize(
    ("reference", "options"), [("previous", {}), ("fixed", {"reference_size": 10_000})]
)
@pytest.mark.parametrize("correction", ["bonferroni", "bh"])
def test_stationary_false_alarm_rate_stays_within_alpha(
    reference: str, options: dict[str, Any], correction: str
) -> None:
    """1,000,000 stationary events x 10 features, windows of 1000, one batch (vectorized)."""
    x = np.random.default_rng(2024).normal(size=(1_000_000, 10))
    alpha = 0.01
    monitor = FeatureDriftMonitor(
        [f"f{i}" for i in range(10)],
        window=1000,
        reference=reference,
        detectors=("ks",),
        correction=correction,
        alpha=alpha,
        **options,
    )
    alerts = monitor.update(np.arange(len(x)), x, None, np.arange(len(x)))
    tests = monitor.tests_run
    rate = len({a["window"]["end_position"] for a in alerts}) / tests
    print(f"\n{reference} reference, {correction}: false-alarm rate {rate:.4f} in {tests} tests")
    assert tests == {"previous": 999, "fixed": 990}[reference]
    # the rate is estimated from `tests` window tests: allow its one-sided 99% sampling error
    assert rate <= alpha + 2.33 * math.sqrt(alpha * (1 - alpha) / tests)


def test_pickle_round_trip_mid_stream_gives_identical_alerts() -> None:
    x, cats = drifting_stream(1, "abrupt")
    x[::17, 0] = np.nan  # windows of unequal sizes: exact p-values from the lattice recursion
    for options in (
        {},
        {"window": 400, "stride": 150},
        {"window_ms": 3000, "reference": "previous"},
    ):
        monitor = FeatureDriftMonitor(NAMES, ["c"], **options)
        before = run(monitor, x[:10_330], cats[:10_330])
        blob = pickle.dumps(monitor)
        assert len(blob) < 200_000
        restored = pickle.loads(blob)
        after = run(monitor, x, cats, at=10_330)
        clear_memo()  # as in a new process
        assert after and run(restored, x, cats, at=10_330) == after
        assert before + after == run(FeatureDriftMonitor(NAMES, ["c"], **options), x, cats)


def test_same_input_same_output_whatever_the_batch_size() -> None:
    x, cats = drifting_stream(2, "gradual", n=14_000)
    for options in ({}, {"window": 300, "stride": 70, "reference": "previous"}):
        first = run(FeatureDriftMonitor(NAMES, ["c"], **options), x, cats)
        assert first == run(FeatureDriftMonitor(NAMES, ["c"], **options), x, cats)
        assert first == run(FeatureDriftMonitor(NAMES, ["c"], **options), x, cats, batch=137)
        assert first == run(FeatureDriftMonitor(NAMES, ["c"], **options), x, cats, batch=5000)


@pytest.mark.parametrize(
    "options",
    [
        {"window": 300},
        {"window": 300, "stride": 70, "reference": "previous", "warmup": 45},
        {"window": 250, "reference_size": 900, "correction": "bonferroni"},
        {"window": 400, "stride": 100, "reference": "external"},
        {"window_ms": 2_000},
        {"window_ms": 1_500, "reference": "previous", "warmup": 10},
    ],
    ids=["tumbling", "sliding-previous", "fixed-reference", "external", "time", "time-previous"],
)
def test_alerts_and_state_are_the_same_for_any_cut(options: dict[str, Any]) -> None:
    # Drift, missing and infinite values, new categories, and events out of time order.
    x, cats = drifting_stream(3, "abrupt", n=6_000)
    x[::23, 1] = np.nan
    x[::31, 2] = np.inf
    cats = cats.copy()
    cats[::13, 0] = None
    cats[4_000::7, 0] = "new"
    rng = np.random.default_rng(4)
    ts = np.arange(len(x)) * 10 - np.where(rng.random(len(x)) < 0.05, 2_500, 0)

    def build() -> FeatureDriftMonitor:
        monitor = FeatureDriftMonitor(NAMES, ["c"], **options)
        if options.get("reference") == "external":
            monitor.set_reference(x[:800] * 1.1, cats[:800], ts[:800], np.arange(800))
        return monitor

    def feed(monitor: FeatureDriftMonitor, a: int, b: int) -> list[dict[str, Any]]:
        return monitor.update(ts[a:b], x[a:b], cats[a:b], np.arange(a, b))

    alerts = check_cut_invariance(build, feed, len(x))
    assert alerts  # the stream drifts: there is something to compare


def test_input_is_not_mutated() -> None:
    x, cats = drifting_stream(3, "abrupt", n=12_000)
    x[::7, 2] = np.nan
    x[::11, 1] = np.inf
    cats[::5, 0] = None
    ts, pos = np.arange(len(x)) * 10, np.arange(len(x))
    copies = (x.copy(), cats.copy(), ts.copy(), pos.copy())
    monitor = FeatureDriftMonitor(NAMES, ["c"], window=1000)
    alerts = monitor.update(ts, x, cats, pos)
    assert {a["feature"] for a in alerts} >= {"x0", "x3", "c"}
    np.testing.assert_array_equal(x, copies[0])
    assert (cats == copies[1]).all() and (ts == copies[2]).all() and (pos == copies[3]).all()
    twin = FeatureDriftMonitor(NAMES, ["c"], window=1000)
    twin.update(*(c.copy() for c in (ts, x, cats, pos)))
    x[:] = 5.0  # the monitor kept no view of the caller's arrays
    more = drifting_stream(13, "abrupt", n=700)
    later = (ts[:700] + 120_000, more[0], more[1], pos[:700] + 12_000)
    assert monitor.update(*later) == twin.update(*later)


def test_a_feature_missing_for_whole_windows_is_skipped_not_fatal() -> None:
    x, _ = drifting_stream(4, "abrupt", n=13_000)
    x[5_000:13_000, 0] = np.nan  # x0 drifts, but is missing from 5000 on
    x[:, 2] = np.nan  # x2 is never there
    monitor = FeatureDriftMonitor(NAMES, window=WINDOW, detectors=("ks", "psi"))
    alerts = run(monitor, x)
    assert "x3" in {a["feature"] for a in alerts} <= {"x1", "x3", "x4"}
    assert all(a["window"]["end_position"] >= DRIFT for a in alerts if a["feature"] == "x3")


def test_sliding_windows_test_every_stride_over_the_last_window() -> None:
    x, _ = drifting_stream(5, "abrupt", n=12_000)
    monitor = FeatureDriftMonitor(NAMES, window=1000, stride=250, detectors=("ks",))
    alerts = run(monitor, x)
    assert monitor.tests_run == (12_000 - 2_000) // 250 + 1
    assert {a["window"]["end_position"] - a["window"]["start_position"] for a in alerts} == {999}
    assert {(a["window"]["end_position"] + 1) % 250 for a in alerts} == {0}
    assert min(a["window"]["end_position"] for a in alerts) == 10_499  # 250 drifted events
    assert {a["reference"]["end_position"] for a in alerts} == {999}


def test_event_time_windows() -> None:
    x, cats = drifting_stream(6, "abrupt", n=14_000)
    monitor = FeatureDriftMonitor(NAMES, ["c"], window_ms=5_000)  # 500 events of 10 ms
    ts = np.arange(len(x)) * 10
    ts[7_777] = 1_000  # a late event joins the open window
    alerts = monitor.update(ts, x, cats, np.arange(len(x)))
    assert monitor.tests_run == 14_000 // 500 - 2  # the first is the reference, the last open
    first = min(alerts, key=lambda a: a["window"]["end_position"])
    assert first["window"] == {
        "start_position": 10_000,
        "end_position": 10_499,
        "start_ts_ms": 100_000,
        "end_ts_ms": 104_990,
    }
    assert first["reference"]["start_ts_ms"] == 0 and first["reference"]["end_ts_ms"] == 4_990
    late = [a for a in alerts if a["window"]["start_position"] == 7_500]
    assert all(a["window"]["start_ts_ms"] == 1_000 for a in late)


def test_previous_reference_is_the_window_before() -> None:
    x, _ = drifting_stream(7, "abrupt")
    alerts = run(FeatureDriftMonitor(NAMES, window=WINDOW, reference="previous"), x)
    assert alerts
    for a in alerts:
        assert a["reference"]["end_position"] + 1 == a["window"]["start_position"]
    drifted = {a["window"]["start_position"] for a in alerts if a["feature"] in {"x0", "x3"}}
    assert 10_000 in drifted  # the window the drift starts in, against the one before
    assert len(drifted - {10_000, 10_500}) <= 1  # later windows match their drifted neighbours


def test_external_reference() -> None:
    x, cats = drifting_stream(8, "abrupt")
    monitor = FeatureDriftMonitor(NAMES, ["c"], window=WINDOW, reference="external")
    assert run(monitor, x[:3000], cats[:3000]) == [] and monitor.tests_run == 0
    monitor.set_reference(x[:2000], [list(cats[:2000, 0])], positions=np.arange(2000))
    alerts = run(monitor, x, cats, at=3000)
    assert monitor.tests_run == (N - 3000) // WINDOW
    assert min(a["window"]["end_position"] for a in alerts) == 10_499
    assert alerts[0]["reference"] == {
        "start_position": 0,
        "end_position": 1999,
        "start_ts_ms": None,
        "end_ts_ms": None,
    }
    with pytest.raises(OperatorError, match="external"):
        FeatureDriftMonitor(NAMES).set_reference(x[:100])


def test_reset_reference_makes_the_next_window_the_reference() -> None:
    x, _ = drifting_stream(9, "abrupt")
    monitor = FeatureDriftMonitor(NAMES, window=WINDOW, detectors=("ks",))
    alerts = run(monitor, x[:11_000])
    assert alerts
    monitor.reset_reference()
    after = run(monitor, x, at=11_000)  # the drifted regime is the reference now
    assert len({a["window"]["end_position"] for a in after}) <= 1
    assert monitor.tests_run == 22 - 1 + (N - 11_000) // WINDOW - 1


def test_warmup_and_psi_severity() -> None:
    rng = np.random.default_rng(10)
    x = np.concatenate([rng.normal(size=(3000, 1)), rng.normal(0.35, 1.0, size=(1000, 1))])
    monitor = FeatureDriftMonitor(["x"], window=1000, warmup=1000, detectors=("psi",))
    alerts = run(monitor, x)
    assert [(a["detector"], a["severity"], a["p_value"]) for a in alerts] == [
        ("psi", "warning", None)
    ]
    assert 0.1 <= alerts[0]["statistic"] < 0.25
    assert alerts[0]["reference"]["start_position"] == 1000


def test_ks_and_chi2_severity_follow_the_adjusted_p_value() -> None:
    x, cats = drifting_stream(11, "abrupt")
    alerts = run(FeatureDriftMonitor(NAMES, ["c"], window=WINDOW, critical_alpha=1e-4), x, cats)
    for a in alerts:
        if a["detector"] != "psi":
            assert a["p_value"] <= a["p_value_adjusted"] <= 0.01
            assert (a["severity"] == "critical") == (a["p_value_adjusted"] <= 1e-4)


def test_categorical_columns_as_lists_or_object_array() -> None:
    _, cats = drifting_stream(12, "abrupt", n=12_000)
    x = np.empty((12_000, 0))
    as_array = FeatureDriftMonitor(categorical_features=["c"], window=1000)
    as_lists = FeatureDriftMonitor(categorical_features=["c"], window=1000)
    ts = np.arange(12_000)
    first = as_array.update(ts, x, cats, ts)
    assert first and first == as_lists.update(ts, None, [list(cats[:, 0])], ts)


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"reference": "rolling"}, "reference"),
        ({"detectors": ("ks", "adwin")}, "detectors"),
        ({"correction": "holm"}, "correction"),
        ({"alpha": 0.001, "critical_alpha": 0.01}, "alpha"),
        ({"window": 100, "window_ms": 1000}, "window_ms"),
        ({"window": 0}, "window"),
        ({"window": 100, "stride": 200}, "stride"),
        ({"window_ms": 1000, "stride": 10}, "stride"),
        ({"reference": "previous", "reference_size": 5000}, "reference_size"),
        ({"psi_bins": 1}, "psi_bins"),
        ({"psi_warning": 0.3, "psi_critical": 0.2}, "psi_warning"),
    ],
)
def test_bad_settings_are_refused_by_name(options: dict[str, Any], setting: str) -> None:
    with pytest.raises(OperatorError, match=f"feature drift: .*{setting}"):
        FeatureDriftMonitor(NAMES, **options)


def test_bad_input_shapes_are_refused_by_name() -> None:
    monitor = FeatureDriftMonitor(NAMES, ["c"])
    ts = np.arange(4)
    cats = np.array([["a"]] * 4, dtype=object)
    with pytest.raises(OperatorError, match="numeric"):
        monitor.update(ts, np.zeros((4, 3)), cats, ts)
    with pytest.raises(OperatorError, match="positions"):
        monitor.update(ts, np.zeros((4, 5)), cats, ts[:3])
    with pytest.raises(OperatorError, match="categorical"):
        monitor.update(ts, np.zeros((4, 5)), None, ts)
    assert monitor.update(ts[:0], np.zeros((0, 5)), cats[:0], ts[:0]) == []


def test_ks_alerts_equal_a_loop_over_scipy() -> None:
    """Tumbling windows against the fixed reference: the same alerts as ks_2samp per feature
    per window, corrected with scipy's false_discovery_control."""
    x, _ = drifting_stream(14, "gradual")
    x[::13, 1] = np.nan
    alerts = run(FeatureDriftMonitor(NAMES, window=WINDOW, detectors=("ks",), alpha=0.05), x)
    expected = []
    ref = x[:WINDOW]
    for start in range(WINDOW, N, WINDOW):
        cur = x[start : start + WINDOW]
        results = [
            stats.ks_2samp(r[~np.isnan(r)], c[~np.isnan(c)])
            for r, c in zip(ref.T, cur.T, strict=True)
        ]
        adjusted = stats.false_discovery_control([r.pvalue for r in results])
        expected += [
            (start + WINDOW - 1, NAMES[f], results[f].statistic, results[f].pvalue, adjusted[f])
            for f in np.flatnonzero(adjusted <= 0.05)
        ]
    got = [
        (
            a["window"]["end_position"],
            a["feature"],
            a["statistic"],
            a["p_value"],
            a["p_value_adjusted"],
        )
        for a in alerts
    ]
    assert len(got) == len(expected) > 10
    for ours, theirs in zip(got, expected, strict=True):
        assert ours[:2] == theirs[:2]
        np.testing.assert_allclose(ours[2:], theirs[2:], rtol=1e-9)


def test_a_late_event_opening_a_batch_joins_the_open_window() -> None:
    x, _ = drifting_stream(15, "abrupt", n=3_000)
    ts = np.arange(3_000) * 10
    ts[1_600] = 20  # late, and first of its batch below
    monitor = FeatureDriftMonitor(NAMES, window_ms=5_000, reference="previous")
    for lo, hi in ((0, 1_600), (1_600, 3_000)):
        monitor.update(ts[lo:hi], x[lo:hi], None, np.arange(lo, hi))
    assert monitor.tests_run == 4  # windows 0-3 closed, 5 is open: no window was reopened


def test_infinite_values_count_as_missing() -> None:
    x, _ = drifting_stream(16, "abrupt", n=12_000)
    x[::11, 0] = np.inf
    x[::13, 3] = -np.inf
    as_nan = np.where(np.isinf(x), np.nan, x)
    alerts = run(FeatureDriftMonitor(NAMES, window=1000), x)
    assert {a["feature"] for a in alerts} >= {"x0", "x3"}
    assert alerts == run(FeatureDriftMonitor(NAMES, window=1000), as_nan)
