"""Benchmark ``ks_vs_scipy_loop``: the vectorized K-S drift monitor against a scipy loop.

The same stream (10 numeric features; stationary, then three features shift half-way) goes
through :class:`operators.feature_drift.FeatureDriftMonitor` (K-S only, tumbling windows of
1,000 events against the fixed first window, fed in micro-batches of 1,000 events) and through
a plain loop that calls ``scipy.stats.ks_2samp`` per feature per window on the same windows.
Both give events per second; the memo of exact p-values is emptied before every repeat, so each
run starts cold as a new job would. Run ``python -m bench.drift`` from the repository root.
"""

from __future__ import annotations

import json
import time

import numpy as np
from scipy import stats

from bench.entry import entry
from operators.feature_drift import FeatureDriftMonitor
from operators.stat_tests import clear_memo

__all__ = ["run"]

FEATURES = 10
WINDOW = 1_000
WINDOWS = 100  # tested windows, after the reference window


def _stream(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=((WINDOWS + 1) * WINDOW, FEATURES))
    x[len(x) // 2 :, :3] += [0.05, 0.2, 0.5]
    return x


def _ours(x: np.ndarray) -> tuple[float, int]:
    clear_memo()
    monitor = FeatureDriftMonitor(
        [f"f{i}" for i in range(FEATURES)], window=WINDOW, detectors=("ks",)
    )
    positions = np.arange(len(x))
    start = time.perf_counter()
    for s in range(0, len(x), WINDOW):
        monitor.update(
            positions[s : s + WINDOW], x[s : s + WINDOW], None, positions[s : s + WINDOW]
        )
    return time.perf_counter() - start, monitor.tests_run


def _scipy_loop(x: np.ndarray) -> tuple[float, int]:
    start = time.perf_counter()
    reference = x[:WINDOW]
    tests = 0
    for s in range(WINDOW, len(x), WINDOW):
        window = x[s : s + WINDOW]
        for f in range(FEATURES):
            stats.ks_2samp(reference[:, f], window[:, f])
        tests += 1
    return time.perf_counter() - start, tests


def run(repeats: int = 5) -> dict[str, dict[str, object]]:
    """Median events per second of both over ``repeats`` runs, measured in the same process."""
    x = _stream()
    ours, baseline = [], []
    for _ in range(repeats):
        seconds, tests = _ours(x)
        assert tests == WINDOWS
        ours.append(len(x) / seconds)
        seconds, tests = _scipy_loop(x)
        assert tests == WINDOWS
        baseline.append(len(x) / seconds)
    return entry(
        "ks_vs_scipy_loop",
        ours,
        baseline,
        target=1.0,
        baseline_is="scipy.stats.ks_2samp per feature per window in a plain loop",
    )


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
