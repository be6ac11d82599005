from __future__ import annotations

import numpy as np
import pytest

from operators.error_drift import DETECTORS, ErrorDriftMonitor
from operators.errors import OperatorError


def stream(n_before: int, n_after: int, p_before: float, p_after: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return (
        (np.r_[rng.random(n_before) < p_before, rng.random(n_after) < p_after])
        .astype(float)
        .tolist()
    )


def feed(monitor: ErrorDriftMonitor, errors: list[float]) -> list[dict]:
    pos = list(range(1, len(errors) + 1))
    return monitor.update("m", errors, pos, [str(p) for p in pos], pos)


@pytest.mark.parametrize("detector", sorted(DETECTORS))
def test_every_detector_flags_a_rise_in_errors_after_it_happens(detector):
    alerts = feed(ErrorDriftMonitor(["m"], detector, warmup=100), stream(5000, 3000, 0.1, 0.6, 1))
    assert alerts, detector
    assert alerts[0]["window"]["end_position"] > 5000
    assert alerts[0]["model"] == "m" and alerts[0]["detector"] == detector


def test_falling_errors_raise_no_alert():
    alerts = feed(ErrorDriftMonitor(["m"], "adwin", warmup=0), stream(3000, 3000, 0.6, 0.05, 2))
    assert alerts == []


def test_warmup_values_are_ignored():
    m = ErrorDriftMonitor(["m"], "adwin", warmup=5000)
    assert feed(m, stream(2000, 3000, 0.0, 1.0, 3)) == []


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(OperatorError, match="detector must be one of"):
        ErrorDriftMonitor(["m"], "adwinn")
