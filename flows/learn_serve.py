"""The learn-and-serve step: test-then-train of every candidate model, with late labels.

For each batch, in this order:

1. **predict and serve**: every new event is predicted by every model (with class
   probabilities for a classifier); the serving rule picks whose prediction is served: the
   selection policy (``deployment.mode = "bandit"``) or a deployment mode (shadow, champion /
   challenger, canary), choosing per event among the models that have an answer (never a None
   prediction while any model has one), then the latency budget swaps a model that was too
   slow on this batch for the fallback. The prediction is emitted, and the features, every
   model's prediction and the serving decision are frozen in the label join to wait for the
   label;
2. **join, score, reward, learn**: the batch's labels are joined with the predictions waiting
   for them. Each joined example scores every model's frozen prediction (prequential metrics,
   cumulative and rolling), the served prediction (overall and per slice), rewards the policy
   (``full`` feedback: every model's reward; ``bandit``: only the served model's, weighted by
   the probability it had), feeds the deployment mode and each model's error stream (drift),
   and finally each model learns the frozen features with the label (not with ``frozen``).
3. **drift actions**: a drift alert on a model's errors (or a feature drift action passed in
   ``batch.report["actions"]``) may reset the model, or start a challenger. For a challenger,
   the reservoir of labeled examples restarts at the drift; once it has seen
   ``challenger.sample`` examples of the new regime, a fresh copy of the model is trained on
   that uniform sample, then predicts each joined example before learning it, and replaces
   the model once it is significantly better (:mod:`online_models.challenger`).

So within a batch, predictions always come before any of the batch's labels are learned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from online_models import checkpoints
from online_models.challenger import Challenger, fresh_copy
from online_models.deployment import Deployment
from online_models.feedback_monitor import FeedbackMonitor
from online_models.latency import LatencyBudget
from online_models.learner import Learner
from online_models.metrics import ClassificationMetrics, RegressionMetrics, SlicedMetrics
from online_models.policies import Policy
from operators.error_drift import ErrorDriftMonitor
from operators.label_join import LabelJoin
from operators.records import Batch
from operators.reservoir import UniformReservoir

__all__ = ["LearnServe", "Serving", "ModelCheckpointing"]


@dataclass
class Serving:
    """Who serves: the policy (bandit mode) or a deployment mode; and how rewards flow back.

    The feedback (``"full"``: a label reveals every model's reward, or ``"bandit"``) is a
    setting of the policy and of the deployment mode.

    Attributes:
        policy: the selection policy (serves in bandit mode; learns in every mode).
        deployment: the deployment mode, or None for bandit mode.
        key_field: the event field whose hash routes a canary (the event id when empty).
        latency: the latency budget, or None.
    """

    policy: Policy
    deployment: Deployment | None = None
    key_field: str = ""
    latency: LatencyBudget | None = None


@dataclass
class ModelCheckpointing:
    """Write each model to a versioned checkpoint file every N events or T seconds."""

    directory: str
    schema_hash: str
    every_events: int = 0
    every_s: float = 0.0
    last_events: int = 0
    last_time: float = 0.0
    written: int = 0

    def due(self, events: int) -> bool:
        if self.every_events and events - self.last_events >= self.every_events:
            return True
        return bool(self.every_s) and time.time() - self.last_time >= self.every_s

    def write(
        self, learners: Sequence[Learner], events: int, extra: dict[str, Any], features: Any
    ) -> None:
        for learner in learners:
            checkpoints.save(
                self.directory, learner, extra, schema_hash=self.schema_hash, features=features
            )
        self.last_events, self.last_time = events, time.time()
        self.written += 1


class LearnServe:
    """Predict, serve, join labels, score, reward, watch errors and learn, one batch at a time.

    Args:
        learners: the candidate models.
        serving: the serving rule and the reward feedback.
        join: the delayed-label join.
        drift: the error-stream drift monitor (one detector per model).
        task: ``"classification"`` or ``"regression"``.
        window: events in the rolling window of the served metrics.
        pos_label: the positive class of binary metrics (None: multiclass).
        slices: event fields the served metrics are also computed per value of.
        max_slices: the most values per slice field with their own metrics.
        top_k: emit the ``top_k`` most probable classes with each prediction (0: none).
        monitor_window: events behind the feedback-loop monitor's figures.
        weight_field: the event field of importance weights passed to the learners.
        frozen: predict and score only: no model learns, and the policy, the deployment mode
            and the drift monitor are not updated (batch prediction with fixed models).
        model_checkpoints: periodic model checkpoint files, or None.
        drift_action: what a drift alert on a model's errors does: ``"alert"`` (nothing
            more), ``"reset_model"`` or ``"challenger"``.
        challenger: settings of challengers: ``sample`` (labeled examples kept to train one),
            ``alpha``, ``min_events``, ``max_events``.
    """

    def __init__(
        self,
        learners: Sequence[Learner],
        serving: Serving,
        join: LabelJoin,
        drift: ErrorDriftMonitor,
        task: str = "classification",
        *,
        window: int = 1000,
        pos_label: Any = True,
        slices: Sequence[str] = (),
        max_slices: int = 50,
        top_k: int = 0,
        monitor_window: int = 1000,
        weight_field: str = "",
        frozen: bool = False,
        model_checkpoints: ModelCheckpointing | None = None,
        drift_action: str = "alert",
        challenger: dict[str, Any] | None = None,
    ) -> None:
        self.learners = list(learners)
        self.serving = serving
        self.join = join
        self.drift = drift
        self.task = task
        self.top_k = top_k
        self.weight_field = weight_field
        self.frozen = frozen
        self.model_checkpoints = model_checkpoints
        self.drift_action = drift_action
        self.challenger = {"sample": 2000, "alpha": 0.01, "min_events": 500, "max_events": 20_000}
        self.challenger.update(challenger or {})
        # Labeled examples (frozen features, label) since the last drift, to train challengers.
        self.examples = UniformReservoir(int(self.challenger["sample"]), seed=0)
        self.challengers: dict[int, Challenger] = {}
        self.awaiting: set[int] = set()  # models whose challenger waits for its sample
        self.resets = 0
        self.position = 0  # events predicted so far: the position of alerts
        self.labels_joined = 0
        self.names: tuple[str, ...] = ()
        self._featurizer: Any = None  # the feature step's state, saved with model checkpoints
        self.served_metrics: ClassificationMetrics | RegressionMetrics = (
            ClassificationMetrics(window, pos_label)
            if task == "classification"
            else RegressionMetrics(window)
        )
        options: dict[str, Any] = {"window": window}
        if task == "classification":
            options["pos_label"] = pos_label
        self.sliced = SlicedMetrics(slices, task, max_slices, **options) if slices else None
        # Diversity of served predictions: class labels only (a regressor's are numbers).
        arms = [m.name for m in self.learners]
        self.monitor = FeedbackMonitor(arms, monitor_window) if task == "classification" else None
        self.chosen = np.zeros(len(self.learners), dtype=np.int64)

    def __getstate__(self) -> dict[str, Any]:
        # The featurizer is the feature step's state (in its own snapshot): not pickled twice.
        return {k: v for k, v in self.__dict__.items() if k != "_featurizer"} | {
            "_featurizer": None
        }

    # --- the step ---------------------------------------------------------------------------

    def update(self, batch: Batch) -> list[Batch]:
        self._featurizer = batch.report.get("featurizer", self._featurizer)
        predictions, early = self._predict(batch)
        labels = batch.labels
        joined = early + self.join.add_labels(
            [lab.id for lab in labels], [lab.ts_ms for lab in labels], [lab.y for lab in labels]
        )
        alerts = self._learn(joined) if joined else []
        for action in batch.report.get("actions", ()):
            alerts.extend(self._act(action["action"], range(len(self.learners))))
        if self.model_checkpoints is not None and not self.frozen:
            if self.model_checkpoints.due(self.labels_joined):
                self._checkpoint()
        outputs = dict(batch.outputs)
        outputs["predictions"] = predictions
        outputs["alerts"] = outputs.get("alerts", []) + alerts
        report = {k: v for k, v in batch.report.items() if k != "featurizer"}
        report["learn"] = self.summary()
        return [replace(batch, outputs=outputs, report=report)]

    def on_eof(self) -> list[Batch]:
        mc = self.model_checkpoints
        if (
            mc is not None
            and not self.frozen
            and (not mc.written or mc.last_events != self.labels_joined)
        ):
            self._checkpoint()
        return []

    def _checkpoint(self) -> None:
        assert self.model_checkpoints is not None
        extra = {"position": self.position, "labels_joined": self.labels_joined}
        self.model_checkpoints.write(self.learners, self.labels_joined, extra, self._featurizer)

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
        available = np.array([[p is not None for p in pm] for pm in preds], dtype=bool).T
        arms, probs = self._route(kept, np.array(ms), available)
        records, payloads = [], []
        served_preds = []
        for j, e in enumerate(kept):
            arm = int(arms[j])
            per_model = tuple(p[j] for p in preds)
            per_proba = tuple(None if pr is None else pr[j] for pr in probas)
            self.position += 1
            prob = None if probs is None else float(probs[j])
            # A copy of the row: a view would keep the whole batch's matrix alive as long as
            # the payload (in the label join, in the challengers' sample of examples).
            row = X[j].copy()
            payloads.append((xs[j], row, per_model, per_proba, arm, prob, self.position, e))
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
        self.chosen += np.bincount(arms, minlength=len(self.learners))
        if self.monitor is not None:
            self.monitor.update(arms, served_preds)
        early = self.join.add_events([e.id for e in kept], [e.ts_ms for e in kept], payloads)
        return records, early

    def _route(
        self, events: Sequence[Any], batch_ms: np.ndarray, available: np.ndarray
    ) -> tuple[np.ndarray, Any]:
        s = self.serving
        allowed, fallback, keys = None, -1, None
        if s.latency is not None:
            allowed = s.latency.observe(batch_ms, len(events))
            fallback = s.latency.fallback_index
        rule: Policy | Deployment = s.policy if s.deployment is None else s.deployment
        if s.deployment is not None:
            key = s.key_field
            keys = [str(e.meta.get(key)) if key else e.id for e in events]
        none = np.zeros(0, dtype=np.int64)
        served = rule.run(
            np.zeros(len(events), dtype=np.int8), available, np.zeros((0, len(self.learners))),
            none, none, np.zeros(0), [], event_keys=keys, allowed=allowed, fallback=fallback,
        )  # fmt: skip
        if s.latency is not None:
            s.latency.count_fallbacks(served)
        return served.arms, served.probs

    # --- join, score, reward, learn ---------------------------------------------------------

    def _learn(self, joined: list[tuple[str, Any, Any]]) -> list[dict[str, Any]]:
        payloads = [payload for _, payload, _ in joined]
        ys = [y for _, _, y in joined]
        ids = [event_id for event_id, _, _ in joined]
        served = np.array([p[4] for p in payloads], dtype=np.int64)
        positions = [p[6] for p in payloads]
        events = [p[7] for p in payloads]
        ts = [e.ts_ms for e in events]
        n, k = len(joined), len(self.learners)
        rewards = np.empty((n, k))
        alerts: list[dict[str, Any]] = []
        for m, learner in enumerate(self.learners):
            preds = [p[2][m] for p in payloads]
            probas = [p[3][m] for p in payloads] if self.task == "classification" else None
            learner.score(ys, preds, probas)
            errors = [self._error(y, pred) for y, pred in zip(ys, preds)]
            rewards[:, m] = self._reward(errors)
            if not self.frozen:
                alerts.extend(self.drift.update(learner.name, errors, positions, ids, ts))
        self._score_served(payloads, ys, served)
        if not self.frozen:  # frozen: the policy, the deployment and the models stay as they are
            alerts.extend(self._feedback(served, rewards, payloads, positions))
            alerts.extend(self._race(payloads, ys, rewards))
            self._train(payloads, ys, events)
            drifted = {
                self._index(a["model"]) for a in alerts if a.get("detector") and "model" in a
            }
            alerts.extend(self._act(self.drift_action, sorted(drifted)))
            self.examples.update([(p[0], p[1], y) for p, y in zip(payloads, ys)])
            if self.awaiting and self.examples.seen >= self.examples.size:
                alerts.extend(self._start_challengers())
        self.labels_joined += n
        return alerts

    def _index(self, name: str) -> int:
        return next(i for i, m in enumerate(self.learners) if m.name == name)

    def _act(self, action: str, models: Sequence[int]) -> list[dict[str, Any]]:
        """Carry out a drift action on the models at these indices."""
        if action == "alert" or self.frozen:
            return []
        records = []
        for m in models:
            name = self.learners[m].name
            if action == "reset_model":
                self.learners[m] = fresh_copy(self.learners[m])
                self.resets += 1
                records.append({"id": f"reset/{name}/{self.position}", "kind": "model_reset",
                                "from": name, "to": name, "position": self.position})  # fmt: skip
            elif action == "challenger" and m not in self.challengers:
                self.awaiting.add(m)
                # Restart the sample: the challenger learns the regime after the drift.
                self.examples = UniformReservoir(self.examples.size, seed=self.labels_joined)
        return records

    def _start_challengers(self) -> list[dict[str, Any]]:
        sample = self.examples.sample()
        xs = [s[0] for s in sample]
        X = np.vstack([s[1] for s in sample])
        ys = [s[2] for s in sample]
        c = self.challenger
        records = []
        for m in sorted(self.awaiting):
            learner = fresh_copy(self.learners[m])
            learner.learn(xs, ys, X, self.names)
            name = learner.name
            self.challengers[m] = Challenger(
                learner, name, c["alpha"], c["min_events"], c["max_events"]
            )
            start = {"id": f"challenger/start/{name}/{self.position}",
                     "kind": "challenger_start", "from": name, "to": f"{name} (challenger)",
                     "position": self.position, "trained_on": len(sample)}  # fmt: skip
            records.append(start)
        self.awaiting.clear()
        return records

    def _race(
        self, payloads: list[Any], ys: list[Any], rewards: np.ndarray
    ) -> list[dict[str, Any]]:
        """Score each challenger on the joined examples (before it learns them), then decide."""
        records = []
        for m, ch in list(self.challengers.items()):
            xs = [p[0] for p in payloads]
            X = np.vstack([p[1] for p in payloads])
            preds, probas = ch.learner.predict_batch(xs, X, self.names)
            ch.learner.score(ys, preds, probas)
            mine = self._reward([self._error(y, p) for y, p in zip(ys, preds)])
            decision = ch.observe(rewards[:, m], mine)
            if decision == "wait":
                continue
            records.append(ch.record(decision, self.position))
            if decision == "promote":
                self.learners[m] = ch.learner
            del self.challengers[m]
        return records

    def _score_served(self, payloads: list[Any], ys: list[Any], served: np.ndarray) -> None:
        preds = [p[2][a] for p, a in zip(payloads, served.tolist())]
        probas = [p[3][a] for p, a in zip(payloads, served.tolist())]
        keep = [i for i, pred in enumerate(preds) if pred is not None]
        ys_k = [ys[i] for i in keep]
        preds_k = [preds[i] for i in keep]
        probas_k = [probas[i] for i in keep] if self.task == "classification" else None
        self.served_metrics.update(ys_k, preds_k, probas_k)
        if self.sliced is not None:
            values = {f: [payloads[i][7].meta.get(f) for i in keep] for f in self.sliced.fields}
            self.sliced.update(values, ys_k, preds_k, probas_k)

    def _feedback(
        self, served: np.ndarray, rewards: np.ndarray, payloads: list[Any], positions: list[int]
    ) -> list[dict[str, Any]]:
        s = self.serving
        if s.latency is not None:
            rewards = s.latency.penalize(rewards)
        n = len(served)
        labels = (
            np.ones(n, dtype=np.int8), np.zeros((0, rewards.shape[1]), dtype=bool), rewards,
            np.full(n, -1), served, np.array([p[5] for p in payloads], dtype=float), positions,
        )  # fmt: skip
        s.policy.run(*labels)  # the policy learns in every mode
        if s.deployment is None:
            return []
        records = s.deployment.run(*labels).records
        return [dict(r, id=f"{r['kind']}/{r.get('position')}") for r in records]

    def _train(self, payloads: list[Any], ys: list[Any], events: list[Any]) -> None:
        weights = None
        if self.weight_field:
            weights = np.array([e.meta.get(self.weight_field, 1.0) for e in events])
        xs = [p[0] for p in payloads]
        X = np.vstack([p[1] for p in payloads])
        challengers = [c.learner for c in self.challengers.values()]
        for learner in self.learners + challengers:
            learner.learn(xs, ys, X, self.names, weights)

    def _error(self, y: Any, pred: Any) -> float:
        if pred is None:
            return 1.0
        if self.task == "classification":
            return float(pred != y)
        return abs(float(y) - float(pred))

    def _reward(self, errors: list[float]) -> np.ndarray:
        e = np.asarray(errors, dtype=float)
        if self.task == "classification":
            return 1.0 - e
        return -(e**2)

    # --- report -----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        served = self.served_metrics.report()
        metric = "accuracy" if self.task == "classification" else "mae"
        deployment, latency = self.serving.deployment, self.serving.latency
        out: dict[str, Any] = {
            "predictions": self.position,
            "labels_joined": self.labels_joined,
            "served": {
                "metric": metric,
                "value": served["cumulative"][metric],
                "metrics": served,
            },
            "models": {m.name: m.summary() for m in self.learners},
            "selection": {m.name: int(c) for m, c in zip(self.learners, self.chosen)},
            "policy": self.serving.policy.summary(),
            "label_join": dict(self.join.counts, pending=len(self.join)),
        }
        if self.monitor is not None:
            out["feedback_loop"] = self.monitor.report()
        if deployment is not None:
            out["deployment"] = deployment.summary()
        if latency is not None:
            out["latency"] = latency.summary()
        if self.sliced is not None:
            out["slices"] = self.sliced.report()
        if self.drift_action != "alert":
            out["drift_actions"] = {
                "action": self.drift_action,
                "model_resets": self.resets,
                "challengers": {
                    self.learners[m].name: {"events": c.events, "p_value": c.p_value}
                    for m, c in self.challengers.items()
                },
            }
        if self.model_checkpoints is not None:
            out["model_checkpoints"] = {
                "directory": self.model_checkpoints.directory,
                "written": self.model_checkpoints.written,
            }
        return out
