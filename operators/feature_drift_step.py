"""The feature-drift step: a :class:`~operators.feature_drift.FeatureDriftMonitor` on the raw
event fields of each batch, with the reservoir sample as an optional reference and actions.

- Reference ``"external"`` takes each sample the sampling step emits (``batch.samples``), from
  the event after which it was emitted on.
- Actions on an alert: ``"alert"`` only; ``"reset_reference"`` (the monitor starts a new
  reference, so it stops comparing with a world that is gone); ``"reset_models"`` and
  ``"challenger"`` ask the learn step (``batch.actions``) to reset every model or to start a
  challenger for each, right after the event that closed the window (one action per window
  test that raised alerts). All of it happens at stream positions, whatever the batch cut.

>>> from operators.records import Batch, Events
>>> settings = FeatureDriftSettings(enabled=True, window=100, action="reset_models")
>>> step = FeatureDriftStep(settings, numeric=["x"], categorical=[])
>>> rows = [{"x": float(i >= 200) * 5.0 + (i % 7)} for i in range(300)]
>>> out = step.update(Batch(events=Events.of(rows, ["x"])))[0]
>>> [a.detector for a in out.alerts], out.actions
(['ks', 'psi'], (DriftAction(action='reset_model', after=300),))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from operators.feature_drift import DETECTORS, REFERENCES, FeatureDriftMonitor
from operators.records import Alert, Batch, DriftAction, DriftTest, Events
from operators.settings import (
    Settings,
    at_least,
    boolean,
    names,
    number_in,
    one_of,
    setting,
    subset_of,
)

__all__ = ["ACTIONS", "FeatureDriftSettings", "FeatureDriftStep"]

ACTIONS = ("alert", "reset_reference", "reset_models", "challenger")


@dataclass(frozen=True)
class FeatureDriftSettings(Settings):
    """``[feature_drift]``: drift tests on the raw event fields (see FeatureDriftMonitor for
    the meaning of each; 0 means "not set" for ``stride``, ``window_ms`` and
    ``reference_size``; ``numeric`` and ``categorical`` default to every feature)."""

    enabled: bool = setting(False, boolean)
    numeric: tuple[str, ...] | None = setting(None, names)
    categorical: tuple[str, ...] | None = setting(None, names)
    window: int = setting(1000, at_least(2))
    stride: int = setting(0, at_least(0))
    window_ms: int = setting(0, at_least(0))
    reference: str = setting("fixed", one_of(*REFERENCES))
    reference_size: int = setting(0, at_least(0))
    warmup: int = setting(0, at_least(0))
    detectors: tuple[str, ...] = setting(DETECTORS, subset_of(*DETECTORS))
    alpha: float = setting(0.01, number_in(0, 1))
    correction: str = setting("bh", one_of("bh", "bonferroni"))
    critical_alpha: float = setting(1e-4, number_in(0, 1))
    psi_bins: int = setting(10, at_least(2))
    psi_warning: float = setting(0.1, number_in(0))
    psi_critical: float = setting(0.25, number_in(0))
    min_count: int = setting(10, at_least(1))
    action: str = setting("alert", one_of(*ACTIONS))

    def monitor(self, numeric: Sequence[str], categorical: Sequence[str]) -> FeatureDriftMonitor:
        """The monitor of these settings over the job's features (raises OperatorError)."""
        return FeatureDriftMonitor(
            numeric if self.numeric is None else self.numeric,
            categorical if self.categorical is None else self.categorical,
            window=None if self.window_ms else self.window,
            stride=self.stride or None,
            window_ms=self.window_ms or None,
            reference=self.reference,
            reference_size=self.reference_size or None,
            warmup=self.warmup,
            detectors=self.detectors,
            alpha=self.alpha,
            correction=self.correction,
            critical_alpha=self.critical_alpha,
            psi_bins=self.psi_bins,
            psi_warning=self.psi_warning,
            psi_critical=self.psi_critical,
            min_count=self.min_count,
        )


class FeatureDriftStep:
    """Run a feature-drift monitor on every batch's events.

    Args:
        settings: the ``[feature_drift]`` settings.
        numeric: the job's numeric features (tested unless ``settings.numeric`` says which).
        categorical: the job's categorical features (likewise).
    """

    def __init__(
        self, settings: FeatureDriftSettings, numeric: Sequence[str], categorical: Sequence[str]
    ) -> None:
        self.settings = settings
        self.monitor = settings.monitor(numeric, categorical)
        self.position = 0

    def update(self, batch: Batch) -> list[Batch]:
        m = self.monitor
        events = batch.events
        # The reference changes where each sample was emitted among the batch's events.
        cuts = [(x.after, x) for x in batch.samples if m.reference == "external"]
        found: list[dict[str, Any]] = []
        tests: list[DriftTest] = []
        done = 0
        for after, sample in [*cuts, (len(events), None)]:
            if after > done:
                found.extend(self._test(events, done, after))
                tests.extend(DriftTest(*t) for t in m.tests)
                done = after
            if sample is not None:
                num, cat = self._columns([r["fields"] for r in sample.records])
                m.set_reference(num, cat)
        if tests:
            batch = replace(batch, drift_tests=batch.drift_tests + tuple(tests))
        if not found:
            return [batch]
        first = self.position - len(events)  # the stream position before this batch
        seq = events.seq
        alerts = batch.alerts + tuple(
            replace(_alert(a), seq=int(seq[a["window"]["end_position"] - first - 1]))
            for a in found
        )
        action = self.settings.action
        actions = batch.actions
        if action != "alert" and action != "reset_reference":
            kind = "reset_model" if action == "reset_models" else "challenger"
            ends = sorted({a["window"]["end_position"] for a in found})
            actions += tuple(DriftAction(kind, end - first) for end in ends)
        return [replace(batch, alerts=alerts, actions=actions)]

    def _test(self, events: Events, start: int, stop: int) -> list[dict[str, Any]]:
        """Feed events ``start..stop`` of the batch to the monitor; a window test with alerts
        resets the reference right there when the action says so."""
        m = self.monitor
        num = _numbers(events, m.numeric_features)[start:stop]
        cat = None
        if m.categorical_features:
            cat = _categories(events, m.categorical_features)[start:stop]
        ts = events.ts_ms[start:stop]
        positions = np.arange(self.position + 1, self.position + stop - start + 1)
        self.position += stop - start
        found = m.update(ts, num, cat, positions)
        if found and self.settings.action == "reset_reference":
            m.reset_reference()
        return found

    def _columns(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        """A sample's records (field dicts) as the monitor's columns."""
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


def _numbers(events: Events, names: Sequence[str]) -> np.ndarray:
    index = {n: j for j, n in enumerate(events.numeric_names)}
    return events.numeric[:, [index[n] for n in names]]


def _categories(events: Events, names: Sequence[str]) -> np.ndarray:
    index = {n: j for j, n in enumerate(events.categorical_names)}
    return events.categorical[:, [index[n] for n in names]]


def _alert(a: dict[str, Any]) -> Alert:
    """A feature-drift monitor's alert as an :class:`~operators.records.Alert`."""
    window = a["window"]
    return Alert(
        "drift",
        a["detector"],
        a["feature"],
        int(window["end_position"]),
        model=False,
        severity=a["severity"],
        statistic=a["statistic"],
        p_value=a["p_value"],
        details={
            "p_value_adjusted": a["p_value_adjusted"],
            "window": window,
            "reference": a["reference"],
        },
    )


def _float(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
