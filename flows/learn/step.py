"""The learn-and-serve step: test-then-train of every candidate model, with late labels, exact
whatever the batch size.

A batch's events and labels are taken in their merged stream order (``seq``). The label join
(:meth:`~operators.label_join.LabelJoin.run`) turns them into operations: predict each new
event, learn each label that found its event (a label whose event came in an earlier batch
learns the features frozen when that event was predicted: a :class:`Pending`). Then:

1. **every model** runs over the operations on its own (:class:`~flows.learn.lane.Lane`): it
   predicts each event having learned exactly the labels before it, each label's frozen
   prediction is scored (prequential metrics) and its error watched for drift, and a drift's
   action (a fresh model, a challenger), a challenger's promotion, a feature-drift action or a
   model checkpoint happens exactly at its label;
2. **the serving rule** (:mod:`flows.learn.serving`: a selection policy, or a deployment mode)
   runs over the same operations: each event is served by a model that has an answer, chosen
   from the rewards of the labels before it; each label's rewards (every model's, or only the
   served one's with bandit feedback) are learned in order;
3. **the served predictions** are scored (overall, per slice) and emitted, and the events whose
   label has not come yet wait in the join.

So predictions, metrics, selections, alerts and checkpoints are the same for batches of 1, 7 or
1000 events and any cut; only wall-clock behaviour (the latency budget, ``every_s``
checkpoints) may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson

from flows import shutdown
from flows.learn.lane import Lane, LaneResult, Ops
from flows.learn.model_checkpointing import ModelCheckpointing
from flows.learn.serving import Serving
from online_models.learner import Learner
from online_models.scoring import Scoring
from online_models.tasks import Task
from operators.label_join import Joined, LabelJoin
from operators.records import Alert, Batch, DeadLetter

__all__ = ["Pending", "LearnStep"]


@dataclass(frozen=True, slots=True)
class Pending:
    """What waits in the label join for an event's label, frozen at prediction time.

    Attributes:
        x: the features as a dict (River models), None when every model takes the matrix.
        row: the features as a row (a copy: a view would keep the batch's matrix alive).
        predictions: every model's prediction.
        probas: every model's ``(classes, probabilities)`` (None for a regressor).
        arm: the model that served.
        prob: the probability the serving rule gave that arm (None when it cannot tell).
        position: the event's stream position (events predicted so far, it included).
        event_id: the event's id.
        ts_ms: the event's time.
        meta: the event's meta fields (slices, weight).
    """

    x: dict[str, float] | None
    row: np.ndarray
    predictions: tuple[Any, ...]
    probas: tuple[Any, ...]
    arm: int
    prob: float | None
    position: int
    event_id: str
    ts_ms: int
    meta: dict[str, Any]


SUMMARY_EVERY = 1000  # items (events and labels) between two summaries on the batches


class LearnStep:
    """Predict, serve, join labels, score, watch errors and learn, in stream order.

    Its summary (``Batch.learn``, a view for the report and Prometheus, not state) rides on
    the first batch and then on the batch that completes each further ``SUMMARY_EVERY``
    items, on a tick after a batch that had none, and at the end of input, so that small
    batches do not pay for it each time.

    Args:
        lanes: one per candidate model (its learner, detector, drift actions, challenger).
        serving: the serving rule.
        join: the delayed-label join.
        scoring: the served metrics.
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
        lanes: Sequence[Lane],
        serving: Serving,
        join: LabelJoin,
        scoring: Scoring,
        task: Task,
        *,
        key_field: str = "",
        weight_field: str = "",
        top_k: int = 0,
        frozen: bool = False,
        checkpointing: ModelCheckpointing | None = None,
    ) -> None:
        self.lanes = list(lanes)
        self.serving = serving
        self.join = join
        self.scoring = scoring
        self.task = task
        self.key_field = key_field
        self.weight_field = weight_field
        self.top_k = top_k
        self.frozen = frozen
        self.checkpointing = checkpointing
        self.position = 0  # events predicted so far: the position of alerts
        self.labels_joined = 0
        self.names: tuple[str, ...] = ()  # the feature columns (as of the last batch)
        self.sparse: tuple[bool, ...] = ()
        self.unreported: int | None = None  # items since the last summary (None: none yet)

    @property
    def learners(self) -> list[Learner]:
        """The models serving in each arm now."""
        return [lane.learner for lane in self.lanes]

    # --- the step ---------------------------------------------------------------------------

    def update(self, batch: Batch) -> list[Batch]:
        events = batch.events
        joined = self.join.run(events, batch.labels)
        if not len(joined.kinds):
            if not batch.actions:
                return [replace(batch, learn=self._summary_due(batch))]
        ops, predicted, first = self._ops(batch, joined)
        alerts = []
        if not self.frozen:  # feature-drift actions before the batch's first op
            for action in first:
                for lane in self.lanes:
                    alerts.extend(replace(a, seq=-1) for a in lane.act(action, self.position))
        checkpoints = self._checkpoints_due(ops)

        def checkpoint(learner: Learner, op: int) -> None:
            self._checkpoint(learner, ops, op)

        results = [lane.run(ops, self.frozen, checkpoints, checkpoint) for lane in self.lanes]
        served, probs, served_alerts = self._serve(batch, ops, predicted, results)
        records = self._score_and_emit(batch, ops, joined, predicted, results, served, probs)
        for r in results:
            alerts.extend(r.alerts)
        alerts.extend(served_alerts)
        # In the order they were raised in the stream, the feature-drift step's included.
        ordered = sorted(batch.alerts + tuple(alerts), key=lambda a: a.seq)
        self.labels_joined += len(ops.ys)
        mc = self.checkpointing
        if mc is not None and not self.frozen and mc.due_by_time():
            self._checkpoint_all()
        return [
            replace(
                batch,
                dead_letters=batch.dead_letters + _failures(batch, ops, self.lanes, results),
                predictions=tuple(records),
                alerts=tuple(ordered),
                label_latency_ms=joined.label_ts - ops.ts_ms[ops.learn],
                learn=self._summary_due(batch),
            )
        ]

    def on_tick(self, now: float) -> list[Batch]:
        if not self.unreported:
            return []
        self.unreported = 0
        return [Batch(learn=self.summary())]

    def on_eof(self) -> list[Batch]:
        if not shutdown.requested():  # the input really ended
            for lane in self.lanes:
                lane.check_at_end()
        mc = self.checkpointing
        if (
            mc is not None
            and not self.frozen
            and (not mc.written or mc.last_events != self.labels_joined)
        ):
            self._checkpoint_all()
        self.unreported = 0
        return [Batch(learn=self.summary())]

    def _summary_due(self, batch: Batch) -> dict[str, Any] | None:
        """The summary if this batch should carry it (see the class docstring)."""
        items = len(batch.events) + len(batch.labels)
        if self.unreported is not None and self.unreported + items < SUMMARY_EVERY:
            self.unreported += items
            return None
        self.unreported = 0
        return self.summary()

    # --- operations -------------------------------------------------------------------------

    def _ops(self, batch: Batch, joined: Joined) -> tuple[Ops, np.ndarray, list[str]]:
        """The batch's operations for the models, the indices of its predicted events, and the
        feature-drift actions that come before every op."""
        events, features = batch.events, batch.features
        kinds, event = joined.kinds, joined.event
        predicted = np.flatnonzero(joined.predict)
        n_events = len(events)
        waited = [p for p in joined.waited if p is not None]
        if features is None:  # no event in the batch: the columns are those of the last one
            names, sparse = self.names, self.sparse
            X = np.zeros((n_events, len(names)))
        else:
            names, sparse, X = features.names, features.sparse, features.matrix
            self.names, self.sparse = tuple(names), tuple(sparse)
        if waited:
            X = np.vstack([X, np.vstack([p.row for p in waited])])
        # Row of each op: the event's row, or the next frozen row of an earlier event.
        rows = event.copy()
        learn = np.flatnonzero(kinds == 1)
        earlier_learn = learn[event[learn] < 0]
        rows[earlier_learn] = n_events + np.arange(len(earlier_learn))
        dicts = None
        if not all(lane.learner.vectorized for lane in self.lanes):
            batch_dicts = features.dicts() if features is not None else []
            dicts = [*batch_dicts, *(p.x for p in waited)]
        # Stream positions: each predicted event gets the next one.
        event_position = np.zeros(n_events, dtype=np.int64)
        event_position[predicted] = self.position + 1 + np.arange(len(predicted))
        self.position += len(predicted)
        positions = _at(event_position, event)
        ids: list[str] = [events.ids[e] if e >= 0 else "" for e in event.tolist()]
        ts = _at(events.ts_ms, event)
        earlier: list[Any] = []
        for i, p in zip(learn.tolist(), joined.waited):
            earlier.append(p)
            if p is not None:
                positions[i], ids[i], ts[i] = p.position, p.event_id, p.ts_ms
        weights = None
        if self.weight_field:
            column = events.meta.get(self.weight_field, [])
            weights = np.array(
                [
                    column[e] if p is None else p.meta.get(self.weight_field, 1.0)
                    for e, p in zip(event[learn].tolist(), joined.waited)
                ],
                dtype=float,
            )
        # Feature-drift actions: right after the last predict op of the events before them.
        splits, first = [], []
        for a in batch.actions:
            before = np.flatnonzero((kinds == 0) & (event < a.after))
            if len(before):
                splits.append((int(before[-1]), a.action))
            else:
                first.append(a.action)
        ops = Ops(kinds, rows, X, dicts, tuple(names), tuple(sparse), list(joined.ys), weights,
                  positions, joined.seq, ids, np.asarray(ts, dtype=np.int64), earlier,
                  splits)  # fmt: skip
        return ops, predicted, first

    def _checkpoints_due(self, ops: Ops) -> list[int]:
        """The learn ops after which a checkpoint is due (every ``every_events`` labels)."""
        mc = self.checkpointing
        if mc is None or self.frozen or not mc.settings.every_events:
            return []
        every = mc.settings.every_events
        learn = ops.learn
        counts = self.labels_joined + 1 + np.arange(len(learn))
        return learn[counts % every == 0].tolist()

    def _checkpoint(self, learner: Learner, ops: Ops, op: int) -> None:
        """One model's checkpoint, right after op ``op`` (the N-th label)."""
        assert self.checkpointing is not None
        done = self.labels_joined + int(np.searchsorted(ops.learn, op, side="right"))
        extra = {"position": int(ops.positions[op]), "labels_joined": done}
        self.checkpointing.write_one(learner, done, extra)

    def _checkpoint_all(self) -> None:
        assert self.checkpointing is not None
        extra = {"position": self.position, "labels_joined": self.labels_joined}
        self.checkpointing.write(self.learners, self.labels_joined, extra)

    # --- serving ----------------------------------------------------------------------------

    def _serve(
        self, batch: Batch, ops: Ops, predicted: np.ndarray, results: list[LaneResult]
    ) -> tuple[np.ndarray, np.ndarray | None, list[Alert]]:
        k = len(self.lanes)
        n_pred = len(ops.predict)
        available = np.ones((n_pred, k), dtype=bool)
        for m, r in enumerate(results):
            available[:, m] = [p is not None for p in r.predictions]
        rewards = np.full((len(ops.ys), k), np.nan)
        for m, r in enumerate(results):
            has = np.array([p is not None for p in r.labeled], dtype=bool)
            rewards[has, m] = self.task.rewards(r.errors[has])
        learn = ops.learn
        predict_at = np.full(len(ops.kinds), -1, dtype=np.int64)
        predict_at[ops.predict] = np.arange(n_pred)
        row_predict = np.full(len(ops.X), -1, dtype=np.int64)
        row_predict[ops.rows[ops.predict]] = predict_at[ops.predict]
        label_event = row_predict[ops.rows[learn]]
        label_arm = np.array([-1 if p is None else p.arm for p in ops.earlier], dtype=np.int64)
        label_prob = np.array(
            [np.nan if p is None or p.prob is None else p.prob for p in ops.earlier]
        )
        events, key = batch.events, self.key_field
        keys = [str(events.meta[key][e]) if key else events.ids[e] for e in predicted.tolist()]
        served = self.serving.run(
            ops.kinds,
            available,
            rewards,
            label_event,
            label_arm,
            label_prob,
            learn.tolist(),  # records come back at the op of their label
            keys,
            [r.ms for r in results],
            self.frozen,
        )
        alerts = [
            replace(a, position=int(ops.positions[op]), seq=int(ops.seq[op]))
            for a, op in zip(
                self.serving.alerts(served.records), [r["position"] for r in served.records]
            )
        ]
        return served.arms, served.probs, alerts

    # --- scoring and predictions ------------------------------------------------------------

    def _score_and_emit(
        self,
        batch: Batch,
        ops: Ops,
        joined: Joined,
        predicted: np.ndarray,
        results: list[LaneResult],
        arms: np.ndarray,
        probs: np.ndarray | None,
    ) -> list[dict[str, Any]]:
        events = batch.events
        names = [lane.name for lane in self.lanes]
        learn = ops.learn
        # The served prediction of each label: its event's arm then.
        predict_at = np.full(len(ops.X), -1, dtype=np.int64)
        predict_at[ops.rows[ops.predict]] = np.arange(len(ops.predict))
        at = predict_at[ops.rows[learn]]
        label_arms = np.array(
            [arms[a] if a >= 0 else p.arm for a, p in zip(at.tolist(), ops.earlier)],
            dtype=np.int64,
        )
        if len(learn):
            served_preds = [results[a].labeled[j] for j, a in enumerate(label_arms.tolist())]
            probas, classes = _served_proba(results, label_arms, self.task.probabilistic)
            slices = {
                f: [
                    events.meta[f][e] if p is None else p.meta.get(f)
                    for e, p in zip(ops.rows[learn].tolist(), ops.earlier)
                ]
                for f in self.scoring.settings.slices
            }
            self.scoring.score(ops.ys, served_preds, probas, slices, classes)
        # Predictions of this batch's events.
        served_pred = [results[a].predictions[i] for i, a in enumerate(arms.tolist())]
        self.scoring.serve(arms, served_pred)
        records = []
        per_model = [r.predictions for r in results]
        top = self.top_k if self.task.probabilistic else 0
        for i, e in enumerate(predicted.tolist()):
            a = int(arms[i])
            record = {
                "id": events.ids[e],
                "ts_ms": int(events.ts_ms[e]),
                "source": events.sources[e],
                "model": names[a],
                "prediction": served_pred[i],
                "predictions": {n: p[i] for n, p in zip(names, per_model)},
            }
            if top and results[a].P is not None and results[a].P.shape[1]:
                row = results[a].P[i]
                order = np.argsort(-row, kind="stable")[:top].tolist()
                shown = _as_type_of(served_pred[i])
                record["top_k"] = [
                    [shown(results[a].classes[c]), float(row[c])] for c in order if row[c] == row[c]
                ]
            records.append(record)
        # The events still waiting for their label keep what the label will need.
        if joined.waiting:
            self._settle(batch, ops, joined, predicted, results, arms, probs)
        return records

    def _settle(
        self,
        batch: Batch,
        ops: Ops,
        joined: Joined,
        predicted: np.ndarray,
        results: list[LaneResult],
        arms: np.ndarray,
        probs: np.ndarray | None,
    ) -> None:
        events = batch.events
        index = np.full(len(events), -1, dtype=np.int64)
        index[predicted] = np.arange(len(predicted))
        meta_fields = list(events.meta)
        payloads = {}
        for e in joined.waiting:
            i = int(index[e])
            payloads[e] = Pending(
                None if ops.dicts is None else ops.dicts[e],
                ops.X[e].copy(),
                tuple(r.predictions[i] for r in results),
                tuple(None if r.P is None else (r.classes, r.P[i].copy()) for r in results),
                int(arms[i]),
                None if probs is None else float(probs[i]),
                int(ops.positions[ops.predict[i]]),
                events.ids[e],
                int(events.ts_ms[e]),
                {f: events.meta[f][e] for f in meta_fields},
            )
        self.join.settle(events, payloads)

    # --- report -----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        names = [lane.name for lane in self.lanes]
        out: dict[str, Any] = {
            "predictions": self.position,
            "labels_joined": self.labels_joined,
            **self.scoring.summary(),
            "models": {lane.name: lane.learner.summary() for lane in self.lanes},
            **self.serving.summary(names),
            "label_join": dict(self.join.counts, pending=len(self.join)),
        }
        actions = {lane.action for lane in self.lanes}
        if actions != {"alert"}:
            out["drift_actions"] = {
                "action": next(iter(actions)),
                "model_resets": sum(lane.resets for lane in self.lanes),
                "challengers": {
                    lane.name: s for lane in self.lanes if (s := lane.summary()) is not None
                },
            }
        if self.checkpointing is not None:
            out["model_checkpoints"] = self.checkpointing.summary()
        return out


def _served_proba(
    results: list[LaneResult], label_arms: np.ndarray, probabilistic: bool
) -> tuple[Any, list[Any] | None]:
    """The probabilities of the served prediction of each label: one array over the classes
    when the serving models share their classes and gave every class, else one mapping per
    label without the classes a prediction did not give (NaN)."""
    n = len(label_arms)
    if not probabilistic:
        return [None] * n, None
    used = np.unique(label_arms).tolist()
    classes = results[used[0]].classes
    if all(results[a].classes == classes for a in used):
        P = np.empty((n, len(classes)))
        for a in used:
            at = label_arms == a
            P[at] = results[a].labeled_P[at]
        if not np.isnan(P).any():
            return P, list(classes)
    return [
        {
            c: p
            for c, p in zip(results[a].classes, results[a].labeled_P[j].tolist())
            if p == p  # NaN: a class that prediction did not give
        }
        for j, a in enumerate(label_arms.tolist())
    ], None


def _failures(
    batch: Batch, ops: Ops, lanes: Sequence[Lane], results: Sequence[LaneResult]
) -> tuple[DeadLetter, ...]:
    """A dead letter (kind ``model_error``, role ``model``) for each record a model raised on,
    in stream order: the record was skipped by that model, the job went on."""
    found = sorted((op, m) for m, r in enumerate(results) for op in r.failures)
    out = []
    events = batch.events
    for op, m in found:
        name, row, event_id = lanes[m].name, int(ops.rows[op]), ops.event_ids[op]
        learning = bool(ops.kinds[op] == 1)
        where = events.sources[row] if row < len(events) else f"event {event_id}"
        doing = "learning the label of" if learning else "predicting"
        exc = results[m].failures[op]
        reason = (
            f"learn step: model {name!r} raised {type(exc).__name__}: {exc} while {doing} "
            f"event {event_id!r}; the model skipped it"
        )
        raw = orjson.dumps(
            {"id": event_id, "model": name, "op": "learn" if learning else "predict"}
        )
        out.append(DeadLetter("model_error", reason, f"{where}/{name}", raw, "model"))
    return tuple(out)


def _at(values: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``values`` of each op's event (0 for the ops of an earlier batch's events)."""
    out = np.zeros(len(event), dtype=values.dtype)
    here = event >= 0
    out[here] = values[event[here]]
    return out


def _as_type_of(prediction: Any) -> Any:
    """Show classes as the prediction shows its label: a binary model predicts booleans until
    its first label tells it the labels are 0/1, and its classes follow."""
    if type(prediction) is bool:
        return lambda c: bool(c) if type(c) is int and c in (0, 1) else c
    if type(prediction) is int:
        return lambda c: int(c) if type(c) is bool else c
    return lambda c: c
