"""The feature-drift step: a :class:`~operators.feature_drift.FeatureDriftMonitor` on the raw
event fields of each batch, with the reservoir sample as an optional reference and actions.

- Reference ``"external"`` takes the sampling step's latest emitted sample
  (``batch.report["reference"]``) whenever one passes by.
- Actions on an alert: ``"alert"`` only; ``"reset_reference"`` (the monitor starts a new
  reference, so it stops comparing with a world that is gone); ``"reset_models"`` and
  ``"challenger"`` ask the learn step (``batch.report["actions"]``) to reset every model or to
  start a challenger for each.

Alerts go to the batch's ``alerts`` output (the flow's output guard gives them their ids).

>>> from operators.feature_drift import FeatureDriftMonitor
>>> from operators.records import Batch, Event
>>> step = FeatureDriftStep(FeatureDriftMonitor(["x"], window=100), action="reset_models")
>>> events = [Event(str(i), i, {"x": float(i >= 200) * 5.0 + (i % 7)}) for i in range(300)]
>>> out = step.update(Batch(events=tuple(events)))[0]
>>> [a["detector"] for a in out.outputs["alerts"]], out.report["actions"]
(['ks', 'psi'], [{'action': 'reset_model'}])
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from operators.errors import OperatorError
from operators.feature_drift import FeatureDriftMonitor
from operators.records import Batch

__all__ = ["ACTIONS", "FeatureDriftStep"]

ACTIONS = ("alert", "reset_reference", "reset_models", "challenger")


class FeatureDriftStep:
    """Run a feature-drift monitor on every batch's events.

    Args:
        monitor: the monitor (its features name the event fields it tests).
        action: one of :data:`ACTIONS`, taken once per window test that raises an alert.
    """

    def __init__(self, monitor: FeatureDriftMonitor, action: str = "alert") -> None:
        if action not in ACTIONS:
            raise OperatorError(f"feature_drift.action: expected one of {ACTIONS}, got {action!r}")
        self.monitor = monitor
        self.action = action
        self.position = 0

    def update(self, batch: Batch) -> list[Batch]:
        m = self.monitor
        reference = batch.report.get("reference")
        if reference and m.reference == "external":
            num, cat = self._columns([r["fields"] for r in reference])
            m.set_reference(num, cat)
        events = batch.events
        if not events:
            return [batch]
        num, cat = self._columns([e.fields for e in events])
        ts = np.array([e.ts_ms for e in events], dtype=np.int64)
        positions = np.arange(self.position + 1, self.position + len(events) + 1)
        self.position += len(events)
        alerts = m.update(ts, num, cat, positions)
        if not alerts:
            return [batch]
        outputs = dict(batch.outputs, alerts=batch.outputs.get("alerts", []) + alerts)
        report = dict(batch.report)
        if self.action == "reset_reference":
            m.reset_reference()
        elif self.action != "alert":
            kind = "reset_model" if self.action == "reset_models" else "challenger"
            report["actions"] = [*report.get("actions", []), {"action": kind}]
        return [replace(batch, outputs=outputs, report=report)]

    def _columns(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        m = self.monitor
        num = np.array(
            [[_float(r.get(f)) for f in m.numeric_features] for r in rows], dtype=float
        ).reshape(len(rows), len(m.numeric_features))
        if not m.categorical_features:
            return num, None
        cat = np.empty((len(rows), len(m.categorical_features)), dtype=object)
        for j, f in enumerate(m.categorical_features):
            cat[:, j] = [r.get(f) for r in rows]
        return num, cat


def _float(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
