"""The learn-and-serve step: test-then-train of every candidate model, with late labels.

For each batch, in this order:

1. **predict and serve**: every new event is predicted by every model (with class
   probabilities for a classifier); the serving rule (:mod:`flows.learn.serving`) picks whose
   prediction is served. The prediction is emitted, and what the label will need (the frozen
   features, every model's prediction, the serving decision: a :class:`Pending`) waits in the
   label join;
2. **join, score, reward, learn**: the batch's labels are joined with the predictions waiting
   for them. Each joined example scores every model's frozen prediction (prequential metrics)
   and the served prediction (:mod:`online_models.scoring`), rewards the serving rule, feeds
   each model's error stream (:mod:`flows.learn.drift_actions`), races the challengers, and
   finally each model learns the frozen features with the label (not with ``frozen``);
3. **drift actions**: a drift alert on a model's errors, or a feature drift action in
   ``batch.actions``, may reset the model or start a challenger;
4. **model checkpoints** when due (:mod:`flows.learn.model_checkpointing`).

So within a batch, predictions always come before any of the batch's labels are learned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from flows.learn.challengers import Example
from flows.learn.drift_actions import DriftActions
from flows.learn.model_checkpointing import ModelCheckpointing
from flows.learn.serving import Serving
from online_models.learner import Learner
from online_models.scoring import Scoring
from online_models.tasks import Task
from operators.label_join import LabelJoin
from operators.records import Alert, Batch, Event

__all__ = ["Pending", "LearnStep"]


@dataclass(frozen=True, slots=True)
class Pending:
    """What waits in the label join for an event's label, frozen at prediction time.

    Attributes:
        x: the features as a dict (River models), None when every model takes the matrix.
        row: the features as a row (a copy: a view would keep the batch's matrix alive).
        predictions: every model's prediction.
        probas: every model's class probabilities (None for a regressor).
        arm: the model that served.
        prob: the probability the policy gave that arm (bandit mode), else None.
        position: the event's stream position (events predicted so far, it included).
        event: the event.
    """

    x: dict[str, float] | None
    row: np.ndarray
    predictions: tuple[Any, ...]
    probas: tuple[Any, ...]
    arm: int
    prob: float | None
    position: int
    event: Event


class LearnStep:
    """Predict, serve, join labels, score, reward, watch errors and learn, one batch at a time.

    Args:
        learners: the candidate models.
        serving: the serving rule.
        join: the delayed-label join.
        scoring: the served metrics.
        drift: the error-drift monitor, drift actions and challengers.
        task: the job's task.
        key_field: the event meta field whose hash routes a canary (the event id when empty).
        weight_field: the event meta field of importance weights passed to the learners.
        top_k: emit the ``top_k`` most probable classes with each prediction (0: none).
        frozen: predict and score only: no model learns, and the serving rule, the drift
            monitor and the challengers are not updated.
        checkpointing: periodic model checkpoint files, or None.
    """

    def __init__(
        self,
        learners: Sequence[Learner],
        serving: Serving,
        join: LabelJoin,
        scoring: Scoring,
        drift: DriftActions,
        task: Task,
        *,
        key_field: str = "",
        weight_field: str = "",
        top_k: int = 0,
        frozen: bool = False,
        checkpointing: ModelCheckpointing | None = None,
    ) -> None:
        self.learners = list(learners)
        self.serving = serving
        self.join = join
        self.scoring = scoring
        self.drift = drift
        self.task = task
        self.key_field = key_field
        self.weight_field = weight_field
        self.top_k = top_k
        self.frozen = frozen
        self.checkpointing = checkpointing
        self.position = 0  # events predicted so far: the position of alerts
        self.labels_joined = 0
        self.names: tuple[str, ...] = ()

    # --- the step ---------------------------------------------------------------------------

    def update(self, batch: Batch) -> list[Batch]:
        predictions, early = self._predict(batch)
        labels = batch.labels
        joined = early + self.join.add_labels(
            [lab.id for lab in labels], [lab.ts_ms for lab in labels], [lab.y for lab in labels]
        )
        alerts = self._learn(joined) if joined else []
        for action in batch.actions:
            alerts.extend(self._act(action.action, range(len(self.learners))))
        mc = self.checkpointing
        if mc is not None and not self.frozen and mc.due(self.labels_joined):
            self._checkpoint()
        return [
            replace(
                batch,
                predictions=tuple(predictions),
                alerts=batch.alerts + tuple(alerts),
                learn=self.summary(),
            )
        ]

    def on_eof(self) -> list[Batch]:
        mc = self.checkpointing
        if (
            mc is not None
            and not self.frozen
            and (not mc.written or mc.last_events != self.labels_joined)
        ):
            self._checkpoint()
        return []

    def _checkpoint(self) -> None:
        assert self.checkpointing is not None
        extra = {"position": self.position, "labels_joined": self.labels_joined}
        self.checkpointing.write(self.learners, self.labels_joined, extra)

    def _act(self, action: str, models: Sequence[int]) -> list[Alert]:
        if action == "alert" or self.frozen:
            return []
        return self.drift.act(action, models, self.learners, self.position, self.labels_joined)

    # --- predict and serve ------------------------------------------------------------------

    def _predict(self, batch: Batch) -> tuple[list[dict[str, Any]], list[tuple[str, Any, Any]]]:
        events = batch.events
        if not events:
            return [], []
        assert batch.features is not None, "learn step needs the featurizer's output"
        seen: set[str] = set()
        keep = []
        for i, e in enumerate(events):
            if not (self.join.is_duplicate(e.id) or e.id in seen):
                seen.add(e.id)
                keep.append(i)
            else:  # seen before: not predicted nor learned again, but counted
                self.join.counts["duplicate_events"] += 1
        block = batch.features
        self.names = block.names
        X = block.matrix[keep]
        # Dicts only for models that take them (River's); vectorized models take the matrix.
        if all(m.vectorized for m in self.learners):
            xs: list[Any] = [None] * len(keep)
        else:
            dicts = block.dicts()
            xs = [dicts[i] for i in keep]
        preds, probas, ms = [], [], []
        for learner in self.learners:
            started = time.perf_counter()
            p, pr = learner.predict_batch(xs, X, self.names)
            ms.append((time.perf_counter() - started) * 1000.0)
            preds.append(p)
            probas.append(pr)
        kept = [events[i] for i in keep]
        key = self.key_field
        keys = [str(e.meta.get(key)) if key else e.id for e in kept]
        arms, probs = self.serving.route(keys, np.array(ms))
        records, payloads, served_preds = [], [], []
        for j, e in enumerate(kept):
            arm = int(arms[j])
            per_model = tuple(p[j] for p in preds)
            per_proba = tuple(None if pr is None else pr[j] for pr in probas)
            self.position += 1
            prob = None if probs is None else float(probs[j])
            payloads.append(
                Pending(xs[j], X[j].copy(), per_model, per_proba, arm, prob, self.position, e)
            )
            served_preds.append(per_model[arm])
            record = {
                "id": e.id,
                "ts_ms": e.ts_ms,
                "source": e.source,
                "model": self.learners[arm].name,
                "prediction": per_model[arm],
                "predictions": {m.name: p for m, p in zip(self.learners, per_model)},
            }
            if self.top_k and per_proba[arm] is not None:
                top = sorted(per_proba[arm].items(), key=lambda kv: -kv[1])[: self.top_k]
                record["top_k"] = [[c, p] for c, p in top]
            records.append(record)
        self.scoring.serve(arms, served_preds)
        early = self.join.add_events([e.id for e in kept], [e.ts_ms for e in kept], payloads)
        return records, early

    # --- join, score, reward, learn ---------------------------------------------------------

    def _learn(self, joined: list[tuple[str, Any, Any]]) -> list[Alert]:
        pending: list[Pending] = [payload for _, payload, _ in joined]
        ys = [y for _, _, y in joined]
        ids = [event_id for event_id, _, _ in joined]
        served = np.array([p.arm for p in pending], dtype=np.int64)
        positions = [p.position for p in pending]
        ts = [p.event.ts_ms for p in pending]
        task = self.task
        rewards = np.empty((len(joined), len(self.learners)))
        alerts: list[Alert] = []
        for m, learner in enumerate(self.learners):
            preds = [p.predictions[m] for p in pending]
            probas = [p.probas[m] for p in pending] if task.probabilistic else None
            learner.score(ys, preds, probas)
            errors = task.errors(ys, preds)
            rewards[:, m] = task.rewards(errors)
            if not self.frozen:
                alerts.extend(self.drift.watch(m, errors.tolist(), positions, ids, ts))
        self.scoring.score(
            ys,
            [p.predictions[p.arm] for p in pending],
            [p.probas[p.arm] for p in pending],
            {f: [p.event.meta.get(f) for p in pending] for f in self.scoring.settings.slices},
        )
        if not self.frozen:  # frozen: serving, drift monitors and models stay as they are
            probs = [p.prob for p in pending]
            alerts.extend(self.serving.reward(served, rewards, probs, positions))
            examples = [Example(p.x, p.row, y) for p, y in zip(pending, ys)]
            pool = self.drift.pool
            alerts.extend(pool.race(self.learners, examples, self.names, rewards, self.position))
            self._train(pending, ys)
            alerts.extend(
                self.drift.on_alerts(alerts, self.learners, self.position, self.labels_joined)
            )
            pool.add(examples)
            alerts.extend(pool.start(self.learners, self.names, self.position))
        self.labels_joined += len(joined)
        return alerts

    def _train(self, pending: list[Pending], ys: list[Any]) -> None:
        weights = None
        if self.weight_field:
            weights = np.array([p.event.meta.get(self.weight_field, 1.0) for p in pending])
        xs = [p.x for p in pending]
        X = np.vstack([p.row for p in pending])
        for learner in self.learners + self.drift.pool.learners():
            learner.learn(xs, ys, X, self.names, weights)

    # --- report -----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        names = [m.name for m in self.learners]
        out: dict[str, Any] = {
            "predictions": self.position,
            "labels_joined": self.labels_joined,
            **self.scoring.summary(),
            "models": {m.name: m.summary() for m in self.learners},
            **self.serving.summary(names),
            "label_join": dict(self.join.counts, pending=len(self.join)),
        }
        drift = self.drift.summary(names)
        if drift is not None:
            out["drift_actions"] = drift
        if self.checkpointing is not None:
            out["model_checkpoints"] = self.checkpointing.summary()
        return out
