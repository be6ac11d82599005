"""The learn-and-serve step: test-then-train of every candidate model, with late labels.

For each batch, in this order:

1. every new event is predicted by every model on its features, the selection policy picks
   the model whose prediction is served, and the prediction is emitted; the features and all
   predictions are frozen in the label join to wait for the label;
2. the batch's labels are joined with the predictions waiting for them; each joined example
   scores every model's frozen prediction (prequential metric), rewards the policy (full
   feedback: a label reveals every candidate's reward), feeds each model's error stream to the
   drift monitor, and finally each model learns the frozen features with the label.

So within a batch, predictions always come before any of the batch's labels are learned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from river import metrics

from online_models.learner import Learner
from online_models.policies import EpsilonGreedy
from operators.error_drift import ErrorDriftMonitor
from operators.label_join import LabelJoin
from operators.records import Batch

__all__ = ["LearnServe"]


class LearnServe:
    """Predict, serve, join labels, score, reward, watch errors and learn, one batch at a time.

    Args:
        learners: the candidate models.
        policy: chooses the served model per event.
        join: the delayed-label join.
        drift: the error-stream drift monitor (one detector per model).
        task: ``"classification"`` or ``"regression"``.
    """

    def __init__(
        self,
        learners: Sequence[Learner],
        policy: EpsilonGreedy,
        join: LabelJoin,
        drift: ErrorDriftMonitor,
        task: str = "classification",
    ) -> None:
        self.learners = list(learners)
        self.policy = policy
        self.join = join
        self.drift = drift
        self.task = task
        self.position = 0  # events predicted so far: the position of alerts
        self.served_metric: metrics.base.Metric = (
            metrics.Accuracy() if task == "classification" else metrics.MAE()
        )
        self.labels_joined = 0

    def update(self, batch: Batch) -> list[Batch]:
        predictions, early = self._predict(batch)
        labels = batch.labels
        joined = early + self.join.add_labels(
            [lab.id for lab in labels], [lab.ts_ms for lab in labels], [lab.y for lab in labels]
        )
        alerts = self._learn(joined) if joined else []
        outputs = dict(batch.outputs)
        outputs["predictions"] = predictions
        outputs["alerts"] = outputs.get("alerts", []) + alerts
        return [replace(batch, outputs=outputs, report={**batch.report, "learn": self.summary()})]

    def _predict(self, batch: Batch) -> tuple[list[dict[str, Any]], list[tuple[str, Any, Any]]]:
        events = batch.events
        if not events:
            return [], []
        assert batch.features is not None, "learn step needs the featurizer's output"
        fresh = [i for i, e in enumerate(events) if not self.join.is_duplicate(e.id)]
        seen: set[str] = set()
        keep = [i for i in fresh if not (events[i].id in seen or seen.add(events[i].id))]
        all_xs = batch.features.dicts()
        xs = [all_xs[i] for i in keep]
        preds = [learner.predict(xs) for learner in self.learners]
        arms = self.policy.choose(len(keep))
        records, payloads = [], []
        for j, i in enumerate(keep):
            e = events[i]
            arm = int(arms[j])
            per_model = tuple(p[j] for p in preds)
            self.position += 1
            payloads.append((xs[j], per_model, arm, self.position, e.ts_ms))
            records.append(
                {
                    "id": e.id,
                    "ts_ms": e.ts_ms,
                    "source": e.source,
                    "model": self.learners[arm].name,
                    "prediction": per_model[arm],
                    "predictions": {m.name: p for m, p in zip(self.learners, per_model)},
                }
            )
        early = self.join.add_events(
            [events[i].id for i in keep], [events[i].ts_ms for i in keep], payloads
        )
        return records, early

    def _learn(self, joined: list[tuple[str, Any, Any]]) -> list[dict[str, Any]]:
        ids = [event_id for event_id, _, _ in joined]
        ys = [y for _, _, y in joined]
        xs = [payload[0] for _, payload, _ in joined]
        served_arms = [payload[2] for _, payload, _ in joined]
        positions = [payload[3] for _, payload, _ in joined]
        ts = [payload[4] for _, payload, _ in joined]
        served = self.served_metric.update
        alerts = []
        for k, learner in enumerate(self.learners):
            preds = [payload[1][k] for _, payload, _ in joined]
            learner.score(ys, preds)
            errors = [self._error(y, p) for y, p in zip(ys, preds)]
            self.policy.update(np.full(len(ys), k), 1.0 - np.minimum(errors, 1.0))
            alerts.extend(self.drift.update(learner.name, errors, positions, ids, ts))
        for (_, payload, y), arm in zip(joined, served_arms):
            if payload[1][arm] is not None:
                served(y, payload[1][arm])
        for learner in self.learners:
            learner.learn(xs, ys)
        self.labels_joined += len(joined)
        return alerts

    def _error(self, y: Any, pred: Any) -> float:
        if pred is None:
            return 1.0
        if self.task == "classification":
            return float(pred != y)
        return abs(float(y) - float(pred))

    def summary(self) -> dict[str, Any]:
        return {
            "predictions": self.position,
            "labels_joined": self.labels_joined,
            "served": {
                "metric": "accuracy" if self.task == "classification" else "mae",
                "value": self.served_metric.get(),
            },
            "models": {m.name: m.summary() for m in self.learners},
            "selection": self.policy.summary(),
            "label_join": dict(self.join.counts, pending=len(self.join)),
        }
