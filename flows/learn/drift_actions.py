"""Drift on the models' errors, and what a drift does: nothing more than an alert, a fresh
model, or a challenger (:mod:`flows.learn.challengers`). A feature-drift step's request
(:class:`~operators.records.DriftAction`) is carried out the same way, for every model.

>>> from online_models.tasks import task
>>> d = DriftActions(DriftSettings(warmup=0), ["lr"], task("classification"))
>>> n = list(range(2300))
>>> alerts = d.watch(0, [0.0] * 2000 + [1.0] * 300, n, [str(i) for i in n], n)
>>> alerts[0].kind, alerts[0].detector, alerts[0].subject
('drift', 'adwin', 'lr')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flows.learn.challengers import ChallengerPool, ChallengerSettings
from online_models.learner import Learner
from online_models.tasks import Task
from operators.error_drift import DETECTORS, ErrorDriftMonitor
from operators.records import Alert
from operators.settings import Settings, at_least, one_of, setting, table

__all__ = ["ACTIONS", "DriftSettings", "DriftActions"]

ACTIONS = ("alert", "reset_model", "challenger")


@dataclass(frozen=True)
class DriftSettings(Settings):
    """``[drift]``: the detector on each model's errors and what a drift does."""

    detector: str = setting("adwin", one_of(*sorted(DETECTORS)))
    params: dict[str, Any] = setting({}, table)
    warmup: int = setting(1000, at_least(0))
    action: str = setting("alert", one_of(*ACTIONS))
    challenger: ChallengerSettings = setting(ChallengerSettings())


class DriftActions:
    """The error-drift monitor of every model, the drift actions and the challenger pool.

    Args:
        settings: the ``[drift]`` settings.
        models: the models' names (one detector each).
        task: the job's task.
    """

    def __init__(self, settings: DriftSettings, models: Sequence[str], task: Task) -> None:
        self.settings = settings
        self.monitor = ErrorDriftMonitor(
            models, settings.detector, settings.params, settings.warmup
        )
        self.models = list(models)
        self.pool = ChallengerPool(settings.challenger, task)
        self.resets = 0

    def watch(
        self,
        model: int,
        errors: Sequence[float],
        positions: Sequence[int],
        ids: Sequence[str],
        ts_ms: Sequence[int],
    ) -> list[Alert]:
        """Feed one model's errors (in label order); return its drift alerts."""
        found = self.monitor.update(self.models[model], errors, positions, ids, ts_ms)
        return [_drift_alert(a) for a in found]

    def act(
        self, action: str, models: Sequence[int], learners: list[Learner], position: int,
        labels_joined: int,
    ) -> list[Alert]:  # fmt: skip
        """Carry out ``action`` on the models at these indices (``learners`` is updated)."""
        alerts = []
        for m in models:
            if action == "reset_model":
                learners[m] = learners[m].fresh()
                self.resets += 1
                name = learners[m].name
                alerts.append(
                    Alert("model_reset", "drift_action", name, position,
                          details={"from": name, "to": name})
                )  # fmt: skip
            elif action == "challenger":
                self.pool.request(m, labels_joined)
        return alerts

    def on_alerts(
        self, alerts: Sequence[Alert], learners: list[Learner], position: int, labels_joined: int
    ) -> list[Alert]:
        """The configured action for the models whose errors drifted in ``alerts``."""
        if self.settings.action == "alert":
            return []
        drifted = sorted({self.models.index(a.subject) for a in alerts if a.kind == "drift"})
        return self.act(self.settings.action, drifted, learners, position, labels_joined)

    def summary(self, names: Sequence[str]) -> dict[str, Any] | None:
        if self.settings.action == "alert":
            return None
        return {
            "action": self.settings.action,
            "model_resets": self.resets,
            "challengers": self.pool.summary(names),
        }


def _drift_alert(a: dict[str, Any]) -> Alert:
    """An error-drift monitor's alert as an :class:`~operators.records.Alert`."""
    window = a["window"]
    return Alert(
        "drift",
        a["detector"],
        a["model"],
        int(window["end_position"]),
        severity=a["severity"],
        statistic=a["statistic"],
        p_value=a["p_value"],
        details={"event_id": a["event_id"], "window": window},
    )
