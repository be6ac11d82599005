"""A named River estimator with its prequential (test-then-train) metric.

>>> lr = Learner("lr", "logistic_regression")
>>> lr.predict([{"x": 1.0}])
[False]
>>> lr.score([True], [False]); lr.learn([{"x": 1.0}], [True]); lr.summary()["events_learned"]
1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from river import metrics

from online_models.errors import ModelError
from online_models.registry import build

__all__ = ["Learner", "TASKS"]

TASKS = ("classification", "regression")


class Learner:
    """One candidate model: predicts, is scored on late labels, then learns.

    Args:
        name: the model's name in the job (used in outputs and the run summary).
        estimator: a registry name (alias or dotted River path).
        params: keyword arguments for the estimator.
        task: ``"classification"`` (metric: accuracy) or ``"regression"`` (metric: MAE).
    """

    def __init__(
        self,
        name: str,
        estimator: str,
        params: dict[str, Any] | None = None,
        task: str = "classification",
    ) -> None:
        if task not in TASKS:
            raise ModelError(f"model {name!r}: task must be one of {TASKS}, got {task!r}")
        self.name = name
        self.estimator = estimator
        self.params = dict(params or {})
        self.task = task
        self.model = build(estimator, self.params)
        self.metric: metrics.base.Metric = (
            metrics.Accuracy() if task == "classification" else metrics.MAE()
        )
        self.events_learned = 0

    def predict(self, xs: Sequence[dict[str, float]]) -> list[Any]:
        """Predict each event's target (None when the model cannot answer yet)."""
        predict_one = self.model.predict_one
        return [predict_one(x) for x in xs]

    def score(self, ys: Sequence[Any], preds: Sequence[Any]) -> None:
        """Update the prequential metric; predictions of None are not scored (as in River)."""
        update = self.metric.update
        for y, p in zip(ys, preds):
            if p is not None:
                update(y, p)

    def learn(self, xs: Sequence[dict[str, float]], ys: Sequence[Any]) -> None:
        learn_one = self.model.learn_one
        for x, y in zip(xs, ys):
            learn_one(x, y)
        self.events_learned += len(ys)

    def summary(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "metric": "accuracy" if self.task == "classification" else "mae",
            "value": self.metric.get(),
            "events_learned": self.events_learned,
        }
