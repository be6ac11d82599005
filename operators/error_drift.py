"""Concept drift on error streams: one River detector per model, alerts when errors rise.

Each model's stream of errors (0/1 for classification, absolute error for regression) feeds
its own detector after ``warmup`` values (a model still learning has falling errors, which is
no alarm). A detection is reported only when the error rate went up: an improving model is not
an incident.

>>> m = ErrorDriftMonitor(["lr"], detector="adwin", warmup=0)
>>> errs = [0.0] * 2000 + [1.0] * 300
>>> pos = list(range(2300))
>>> alerts = m.update("lr", errs, pos, [str(i) for i in pos], pos)
>>> alerts[0]["detector"], alerts[0]["model"], 2000 <= alerts[0]["window"]["end_position"] < 2100
('adwin', 'lr', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from river import drift

from operators.errors import OperatorError

__all__ = ["DETECTORS", "ErrorDriftMonitor"]

DETECTORS: dict[str, Any] = {
    "adwin": drift.ADWIN,
    "page_hinkley": drift.PageHinkley,
    "kswin": drift.KSWIN,
    "ddm": drift.binary.DDM,
    "eddm": drift.binary.EDDM,
}


class ErrorDriftMonitor:
    """Watch each model's error stream with a River drift detector.

    Args:
        streams: the models' names.
        detector: one of :data:`DETECTORS`.
        params: keyword arguments for the detector (e.g. ``delta`` for ADWIN).
        warmup: error values per model ignored before the detector starts.
    """

    def __init__(
        self,
        streams: Sequence[str],
        detector: str = "adwin",
        params: dict[str, Any] | None = None,
        warmup: int = 1000,
    ) -> None:
        if detector not in DETECTORS:
            raise OperatorError(
                f"error drift: detector must be one of {sorted(DETECTORS)}, got {detector!r}"
            )
        self.streams = list(streams)
        self.detector = detector
        self.params = dict(params or {})
        if detector == "page_hinkley":
            self.params.setdefault("mode", "up")  # a rise in errors, not a fall
        if detector in ("ddm", "eddm"):
            # River's default (30) estimates the minimum error from too few values and fires
            # on stationary streams; 1000 values pin it down.
            self.params.setdefault("warm_start", 1000)
        self.warmup = warmup
        self._detectors = {s: DETECTORS[detector](**self.params) for s in self.streams}
        self._seen = dict.fromkeys(self.streams, 0)
        self._since = dict.fromkeys(self.streams, 0)  # values fed since the last detection
        self._sum = dict.fromkeys(self.streams, 0.0)  # their sum: the error rate before a drift

    def update(
        self,
        stream: str,
        errors: Sequence[float],
        positions: Sequence[int],
        event_ids: Sequence[str],
        ts_ms: Sequence[int],
    ) -> list[dict[str, Any]]:
        """Feed errors (in stream order, with the event each belongs to); return alerts."""
        return self.feed(stream, errors, positions, event_ids, ts_ms)[0]

    def feed(
        self,
        stream: str,
        errors: Sequence[float],
        positions: Sequence[int],
        event_ids: Sequence[str],
        ts_ms: Sequence[int],
        until_alert: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        """Like :meth:`update`, and with ``until_alert`` stop right after the first alert;
        return the alerts and how many errors were taken."""
        det = self._detectors[stream]
        alerts: list[dict[str, Any]] = []
        seen = self._seen[stream]
        taken = 0
        for i, err in enumerate(errors):
            if until_alert and alerts:
                break
            taken += 1
            seen += 1
            if seen <= self.warmup:
                continue
            det.update(err)
            self._since[stream] += 1
            self._sum[stream] += err
            if not det.drift_detected:
                continue
            before = self._sum[stream] / self._since[stream]
            after = self._recent_error(det)
            width = self._since[stream]
            self._since[stream], self._sum[stream] = 0, 0.0
            if after is not None and after <= before:
                continue
            alerts.append(
                {
                    "detector": self.detector,
                    "model": stream,
                    "statistic": {"error_before": before, "error_after": after},
                    "p_value": None,
                    "event_id": event_ids[i],
                    "window": {
                        "start_position": int(positions[i]) - width + 1,
                        "end_position": int(positions[i]),
                        "end_ts_ms": int(ts_ms[i]),
                    },
                    "severity": "warning"
                    if after is not None and after - before < 0.1
                    else "critical",
                }
            )
        self._seen[stream] = seen
        return alerts, taken

    @staticmethod
    def _recent_error(det: Any) -> float | None:
        """The error rate after the change, as the detector sees it (None: rises only)."""
        if isinstance(det, drift.ADWIN):
            return float(det.estimation)
        if isinstance(det, drift.KSWIN):
            recent = list(det.window)[-det.stat_size :]
            return sum(recent) / len(recent)
        return None  # Page-Hinkley (mode "up"), DDM and EDDM only fire on a rise
