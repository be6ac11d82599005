"""Scoring what was served: the metric of the served predictions, overall and per slice, and
the diversity of what is served (feedback-loop monitor). Each model's own prequential metrics
live with the model (:class:`~online_models.learner.Learner`).

>>> from online_models.tasks import task
>>> s = Scoring(MetricsSettings(window=10), task("classification"), ["a", "b"])
>>> s.serve([0, 1], ["x", "y"])
>>> s.score([True, False], [True, True], [{True: 0.9, False: 0.1}, {True: 0.6, False: 0.4}], {})
>>> s.summary()["served"]["value"]
0.5
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from online_models.feedback_monitor import FeedbackMonitor
from online_models.metrics import SlicedMetrics
from online_models.tasks import Task
from operators.settings import Settings, at_least, names, setting

__all__ = ["MetricsSettings", "Scoring"]


def _class_label(v: Any) -> str | None:
    ok = isinstance(v, (str, int, bool))
    return None if ok else "a class label (string, integer or boolean)"


@dataclass(frozen=True)
class MetricsSettings(Settings):
    """``[metrics]``: how predictions are scored and what each prediction record carries."""

    window: int = setting(1000, at_least(1))
    pos_label: Any = setting(True, _class_label)
    slices: tuple[str, ...] = setting((), names)
    max_slices: int = setting(50, at_least(1))
    top_k: int = setting(0, at_least(0))
    monitor_window: int = setting(1000, at_least(1))


class Scoring:
    """The served metric (cumulative and rolling), per slice, and the feedback-loop monitor.

    Args:
        settings: the ``[metrics]`` settings.
        task: the job's task.
        arms: the candidate models' names.
    """

    def __init__(self, settings: MetricsSettings, task: Task, arms: Sequence[str]) -> None:
        self.settings = settings
        self.task = task
        self.served = task.metrics(settings.window, settings.pos_label)
        options: dict[str, Any] = {"window": settings.window}
        if task.probabilistic:
            options["pos_label"] = settings.pos_label
        self.sliced = (
            SlicedMetrics(settings.slices, task.name, settings.max_slices, **options)
            if settings.slices
            else None
        )
        # Diversity of the served predictions: class labels only (a regressor's are numbers).
        self.monitor = (
            FeedbackMonitor(list(arms), settings.monitor_window) if task.probabilistic else None
        )

    def serve(self, arms: Sequence[int], predictions: Sequence[Any]) -> None:
        """Record what was served: the arm of each event and its prediction."""
        if self.monitor is not None:
            self.monitor.update(arms, predictions)

    def score(
        self,
        ys: Sequence[Any],
        preds: Sequence[Any],
        probas: Sequence[Any] | np.ndarray,
        slices: Mapping[str, Sequence[Any]],
        classes: Sequence[Hashable] | None = None,
    ) -> None:
        """Score the served predictions of joined labels (a missing prediction is not scored).

        Args:
            ys: the labels.
            preds: the served prediction of each.
            probas: its class probabilities (classification): one mapping per label, or an
                array over ``classes``.
            slices: each slice field's value per label.
            classes: the columns of an array ``probas``.
        """
        keep = [i for i, p in enumerate(preds) if p is not None]
        every = len(keep) == len(preds)
        ys_k = list(ys) if every else [ys[i] for i in keep]
        preds_k = list(preds) if every else [preds[i] for i in keep]
        probas_k: Any = None
        if self.task.probabilistic:
            if isinstance(probas, np.ndarray):
                probas_k = probas if every else probas[keep]
            else:
                probas_k = [probas[i] for i in keep]
        self.served.update(ys_k, preds_k, probas_k, classes)
        if self.sliced is not None:
            values = {f: [slices[f][i] for i in keep] for f in self.sliced.fields}
            self.sliced.update(values, ys_k, preds_k, probas_k, classes)

    def summary(self) -> dict[str, Any]:
        """The ``served`` section of the run summary, plus ``feedback_loop`` and ``slices``."""
        report = self.served.report()
        metric = self.task.metric
        out: dict[str, Any] = {
            "served": {"metric": metric, "value": report["cumulative"][metric], "metrics": report}
        }
        if self.monitor is not None:
            out["feedback_loop"] = self.monitor.report()
        if self.sliced is not None:
            out["slices"] = self.sliced.report()
        return out
