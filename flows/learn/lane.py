"""One model's way through a batch's operations: its predictions, its errors watched for drift,
what a drift does to it, its challenger, and its checkpoints, all at exact stream positions.

A batch's operations (:class:`Ops`) are the merged stream order of its events (predict) and
its joined labels (learn). A :class:`Lane` runs its model over them in one call where it can
(a compiled learner takes the whole sequence), and splits the sequence exactly where something
happens to the model: a drift alert whose action replaces it (``reset_model``), a challenger
that is promoted, a feature-drift action, a model checkpoint due after the N-th label. The part
after such a point is run again by the model that holds the arm from there on. So each model's
predictions depend on the item sequence only, never on the batch cut.

Every model's lane is independent of the others' (each has its own detector, its own sample
of labeled examples for a challenger, its own challenger), so a job's models run one after the
other over the same operations.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from online_models.challenger import Challenger
from online_models.learner import Answers, Learner
from online_models.tasks import Task
from operators.error_drift import DETECTORS, ErrorDriftMonitor
from operators.errors import StepError
from operators.records import Alert
from operators.reservoir import UniformReservoir
from operators.settings import Settings, at_least, one_of, setting, table

__all__ = ["ACTIONS", "ChallengerSettings", "DriftSettings", "Ops", "Lane", "LaneResult"]

ACTIONS = ("alert", "reset_model", "challenger")


def _probability(v: Any) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v < 1.0
    return None if ok else "a number in (0, 1)"


@dataclass(frozen=True)
class ChallengerSettings(Settings):
    """``[drift.challenger]``: how challengers are trained and judged."""

    sample: int = setting(2000, at_least(1))
    alpha: float = setting(0.01, _probability)
    min_events: int = setting(500, at_least(1))
    max_events: int = setting(20_000, at_least(1))


@dataclass(frozen=True)
class DriftSettings(Settings):
    """``[drift]``: the detector on each model's errors (``none``: no detector) and what a
    drift does."""

    detector: str = setting("adwin", one_of("none", *sorted(DETECTORS)))
    params: dict[str, Any] = setting({}, table)
    warmup: int = setting(1000, at_least(0))
    action: str = setting("alert", one_of(*ACTIONS))
    challenger: ChallengerSettings = setting(ChallengerSettings())

    def monitor(self, models: Sequence[str]) -> ErrorDriftMonitor | None:
        """The error-drift monitor of these models (None for ``none``)."""
        if self.detector == "none":
            return None
        return ErrorDriftMonitor(models, self.detector, self.params, self.warmup)


@dataclass(frozen=True)
class Ops:
    """A batch's operations for the models, in stream order.

    Attributes:
        kinds: per op, 0 (predict) or 1 (learn).
        rows: per op, its row of ``X`` (the batch's features, then the frozen features of the
            earlier events whose labels came).
        X: the feature matrix of the rows.
        dicts: the rows as River's per-event dicts (None when no model takes them).
        names: the column names of ``X``.
        sparse: per column, whether a 0 means an absent one-hot or hashed key.
        ys: per learn op, the label.
        weights: per learn op, the importance weight (None: all 1).
        positions: per op, the stream position of its event.
        seq: per op, its item's place in the batch's merged order (where its alerts go).
        event_ids: per op, its event's id.
        ts_ms: per op, its event's time.
        earlier: per learn op of an earlier batch's event, every model's frozen prediction
            and probabilities (:class:`Frozen`), else None.
        splits: op indices after which something happens to every model (a feature-drift
            action), with what: ``(op, action)``.
    """

    kinds: np.ndarray
    rows: np.ndarray
    X: np.ndarray
    dicts: Sequence[dict[str, float]] | None
    names: tuple[str, ...]
    sparse: tuple[bool, ...]
    ys: list[Any]
    weights: np.ndarray | None
    positions: np.ndarray
    seq: np.ndarray
    event_ids: Sequence[str]
    ts_ms: np.ndarray
    earlier: list[Any]
    splits: list[tuple[int, str]] = field(default_factory=list)

    @property
    def learn(self) -> np.ndarray:
        """The op indices of the learn ops."""
        return np.flatnonzero(self.kinds == 1)

    @property
    def predict(self) -> np.ndarray:
        """The op indices of the predict ops."""
        return np.flatnonzero(self.kinds == 0)


@dataclass
class LaneResult:
    """What one model did with a batch's operations.

    Attributes:
        predictions: per predict op, the model's prediction (None: no answer yet).
        P: ``(n_predict, len(classes))`` probabilities, None for regression.
        classes: the columns of ``P`` and ``labeled_P``.
        labeled: per learn op, the prediction its event had from this arm (frozen then).
        labeled_P: per learn op, its probabilities (classification).
        errors: per learn op, the error of that prediction.
        alerts: drift alerts, resets, challengers, in stream order.
        ms: milliseconds the model took to predict and learn the batch.
        failures: the ops the model raised on (skipped), with the exception, by op index.
    """

    predictions: list[Any]
    P: np.ndarray | None
    classes: list[Any]
    labeled: list[Any]
    labeled_P: np.ndarray | None
    errors: np.ndarray
    alerts: list[Alert]
    ms: float = 0.0
    failures: dict[int, Exception] = field(default_factory=dict)


MAX_FAILURES_IN_A_ROW = 100
"""A model that raises on this many records in a row (predicting, or learning), or on every
record of an input shorter than that, stops the job: an error that hits every record is no bad
record but a broken job."""


class Lane:
    """One model, its error-drift detector and what a drift does to it.

    Args:
        index: the model's index among the job's models (its arm).
        learner: the model.
        task: the job's task.
        monitor: the error-drift monitor (shared by the lanes; a stream per model).
        action: what a drift on its errors does: ``alert``, ``reset_model`` or ``challenger``.
        challenger: the challengers' settings.
    """

    def __init__(
        self,
        index: int,
        learner: Learner,
        task: Task,
        monitor: ErrorDriftMonitor | None,
        action: str,
        challenger: ChallengerSettings,
    ) -> None:
        self.index = index
        self.learner = learner
        self.task = task
        self.monitor = monitor
        self.action = action
        self.challenger_settings = challenger
        self.examples: UniformReservoir | None = None  # while a challenger waits for them
        self.racing: Challenger | None = None
        self.resets = 0
        self.labels_seen = 0  # labels this lane has been through (for sample seeds)
        self.failures_in_a_row = [0, 0]  # predicting, learning
        self.last_failure: tuple[str, str] | None = None  # (type, message): it pickles
        self.succeeded = [False, False]  # predicted, learned without failing

    @property
    def name(self) -> str:
        return self.learner.name

    # --- a batch ------------------------------------------------------------------------------

    def run(
        self,
        ops: Ops,
        frozen: bool,
        checkpoint_after: Sequence[int] = (),
        checkpoint: Callable[[Learner, int], None] | None = None,
    ) -> LaneResult:
        """Run the model over ``ops``: predict, score each label's frozen prediction, watch the
        errors, learn (not when ``frozen``); ``checkpoint(learner, op)`` is called right after
        each op of ``checkpoint_after``."""
        started = time.perf_counter()
        kinds = ops.kinds
        n = len(kinds)
        predict_ops, learn_ops = ops.predict, ops.learn
        predict_at = np.full(n, -1, dtype=np.int64)
        predict_at[predict_ops] = np.arange(len(predict_ops))
        learn_at = np.full(n, -1, dtype=np.int64)
        learn_at[learn_ops] = np.arange(len(learn_ops))
        predictions = np.full(len(predict_ops), None, dtype=object)
        probas = _Probabilities(len(predict_ops), len(learn_ops), self.task.probabilistic)
        labeled = np.full(len(learn_ops), None, dtype=object)
        errors = np.zeros(len(learn_ops))
        alerts: list[Alert] = []
        # The predict op that made each learn op's frozen prediction, when in this batch.
        event_predict = _event_predict(ops, predict_at)
        fixed = sorted({op for op, _ in ops.splits} | set(checkpoint_after))
        actions = dict(ops.splits)
        failures: dict[int, Exception] = {}
        c = 0
        while c < n:
            stop = next((f + 1 for f in fixed if f >= c), n)
            answers = self._answers(ops, c, stop, frozen)
            for op in [op for op in failures if op >= c]:  # ops run again (after a reset)
                del failures[op]
            failures.update(answers.failures)
            idx = predict_at[c:stop][kinds[c:stop] == 0]
            if len(idx):
                predictions[idx] = _objects(answers.predictions)
                probas.predicted(idx, answers)
            learns = np.flatnonzero(kinds[c:stop] == 1) + c
            if len(learns):
                lj = learn_at[learns]
                at = event_predict[learns]
                here = at >= 0
                labeled[lj[here]] = predictions[at[here]]
                probas.labeled_here(lj[here], at[here])
                for j in lj[~here].tolist():
                    frozen_answer = ops.earlier[j]
                    labeled[j] = frozen_answer.predictions[self.index]
                    probas.labeled_earlier(j, frozen_answer.probas[self.index])
                ys = [ops.ys[j] for j in lj.tolist()]
                errors[lj] = self.task.errors(ys, labeled[lj])
                P, classes = probas.of_labels(lj)
                self.learner.score(ys, list(labeled[lj]), P, classes)
            interrupted = None
            if not frozen:
                interrupted = self._watch(ops, learns.tolist(), learn_at, errors, labeled, alerts)
            if interrupted is not None:
                c = interrupted + 1  # the model changed after this op: run the rest again
                continue
            last = stop - 1
            if last in actions and not frozen:
                alerts.extend(_at(ops, last, self.act(actions[last], int(ops.positions[last]))))
            if last in checkpoint_after and checkpoint is not None and not frozen:
                checkpoint(self.learner, last)
            c = stop
        P, classes = probas.of_predictions()
        labeled_P, _ = probas.of_labels(np.arange(len(learn_ops)))
        self._count_failures(ops, failures, frozen)
        ms = (time.perf_counter() - started) * 1000.0
        return LaneResult(list(predictions), P, classes, list(labeled), labeled_P, errors,
                          alerts, ms, failures)  # fmt: skip

    def _count_failures(self, ops: Ops, failures: dict[int, Exception], frozen: bool) -> None:
        """Count the model's failures in a row (predicting, learning), in stream order; too
        many stop the job (a :class:`StepError` of the learn step, with the last exception)."""
        row = self.failures_in_a_row
        if not failures and not any(row):
            self.succeeded = [True, True] if all(self.succeeded) else self._ran(ops, frozen)
            return
        kinds = ops.kinds.tolist()
        for op in ops.predict.tolist() if frozen else range(len(kinds)):
            kind = kinds[op]
            if op not in failures:
                row[kind] = 0
                self.succeeded[kind] = True
                continue
            row[kind] += 1
            exc = failures[op]
            self.last_failure = (type(exc).__name__, str(exc))
            if row[kind] >= MAX_FAILURES_IN_A_ROW:
                raise StepError("learn", exc) from exc

    def _ran(self, ops: Ops, frozen: bool) -> list[bool]:
        """What the model has done without failing, with the ops of a batch it did not fail on."""
        ran = [len(ops.predict) > 0, not frozen and len(ops.learn) > 0]
        return [a or b for a, b in zip(self.succeeded, ran)]

    def check_at_end(self) -> None:
        """At the end of the input: a model that raised on every record it predicted, or on
        every label it learned, stops the job."""
        if self.last_failure is not None and not all(
            done for done, row in zip(self.succeeded, self.failures_in_a_row) if row
        ):
            name, message = self.last_failure
            kind = getattr(builtins, name, None)
            builtin = isinstance(kind, type) and issubclass(kind, Exception)
            error = kind(message) if builtin else RuntimeError(f"{name}: {message}")
            raise StepError("learn", error)

    def _answers(self, ops: Ops, start: int, stop: int, frozen: bool) -> Answers:
        """The model run over ops ``start..stop`` (predict ops only when frozen)."""
        kinds = ops.kinds[start:stop]
        rows = ops.rows[start:stop]
        learn = np.flatnonzero(ops.kinds == 1)
        first, last = np.searchsorted(learn, [start, stop])
        ys = ops.ys[first:last]
        w = None if ops.weights is None else ops.weights[first:last]
        at = np.arange(start, stop)
        if frozen:
            keep = kinds == 0
            kinds, rows, ys, w, at = kinds[keep], rows[keep], [], None, at[keep]
        answers = self.learner.run(ops.X, ops.dicts, ops.names, ops.sparse, kinds, rows, ys, w)
        if answers.failures:  # their index among the batch's ops
            answers = answers._replace(failures=[(int(at[i]), e) for i, e in answers.failures])
        return answers

    def _watch(
        self,
        ops: Ops,
        learns: list[int],
        learn_at: np.ndarray,
        errors: np.ndarray,
        labeled: np.ndarray,
        alerts: list[Alert],
    ) -> int | None:
        """Feed the labels' errors to the detector, the challenger's sample and the race, in
        order; return the op after which the model changed (a reset, a promotion), if any."""
        if not learns:
            return None
        if self.examples is not None or self.racing is not None:
            for i in learns:
                changed = self._one_label(ops, i, int(learn_at[i]), errors, labeled, alerts)
                if changed:
                    return i
            return None
        if self.monitor is None:
            self.labels_seen += len(learns)
            return None
        lj = [int(learn_at[i]) for i in learns]
        found, taken = self.monitor.feed(
            self.name,
            errors[lj].tolist(),
            [int(ops.positions[i]) for i in learns],
            [ops.event_ids[i] for i in learns],
            [int(ops.ts_ms[i]) for i in learns],
            until_alert=self.action != "alert",
        )
        self.labels_seen += taken
        op_of = {int(ops.positions[i]): i for i in learns[:taken]}
        for a in found:
            alerts.extend(_at(ops, op_of[a["window"]["end_position"]], [_drift_alert(a)]))
        if not found or self.action == "alert":
            return None
        at = learns[taken - 1]
        alerts.extend(_at(ops, at, self.act(self.action, int(ops.positions[at]))))
        if self.action == "reset_model":
            return at
        # A challenger now waits for its sample: the labels after this one feed it.
        rest = learns[taken:]
        return self._watch(ops, rest, learn_at, errors, labeled, alerts)

    def _one_label(
        self,
        ops: Ops,
        i: int,
        j: int,
        errors: np.ndarray,
        labeled: np.ndarray,
        alerts: list[Alert],
    ) -> bool:
        """One label through the detector, the race and the challenger's sample; True when the
        model was replaced right after it."""
        position = int(ops.positions[i])
        changed = False
        new: list[Alert] = []
        if self.racing is not None:
            decision, record = self._race_one(ops, i, j, position, labeled[j])
            if record is not None:
                new.append(record)
            if decision == "promote":
                self.learner = self.racing.learner
                changed = True
            if decision in ("promote", "drop"):
                self.racing = None
        if self.monitor is not None and not changed:
            found, _ = self.monitor.feed(
                self.name, [float(errors[j])], [position], [ops.event_ids[i]],
                [int(ops.ts_ms[i])],
            )  # fmt: skip
            new.extend(_drift_alert(a) for a in found)
            if found and self.action != "alert":
                new.extend(self.act(self.action, position))
                changed = self.action == "reset_model"
        self.labels_seen += 1
        if self.examples is not None and not changed:
            row = int(ops.rows[i])
            x = None if ops.dicts is None else ops.dicts[row]
            self.examples.update([(x, ops.X[row].copy(), ops.ys[j])])
            if self.examples.seen >= self.examples.size:
                new.append(self._start_challenger(ops.names, ops.sparse, position))
        alerts.extend(_at(ops, i, new))
        return changed

    def _race_one(
        self, ops: Ops, i: int, j: int, position: int, incumbent: Any
    ) -> tuple[str, Alert | None]:
        """The challenger predicts the label's event (frozen features), then learns it; its
        reward is paired with the model's."""
        assert self.racing is not None
        ch = self.racing
        row = int(ops.rows[i])
        dicts = None if ops.dicts is None else [ops.dicts[row]]
        X = ops.X[row : row + 1]
        y = ops.ys[j]
        w = None if ops.weights is None else ops.weights[j : j + 1]
        answers = ch.learner.run(X, dicts, ops.names, ops.sparse, np.array([0, 1], np.int8),
                                 np.array([0, 0]), [y], w)  # fmt: skip
        pred = answers.predictions[0]
        proba = None if answers.P is None else [dict(zip(answers.classes, answers.P[0]))]
        ch.learner.score([y], [pred], proba)
        mine = self.task.rewards(self.task.errors([y], [pred]))
        theirs = self.task.rewards(self.task.errors([y], [incumbent]))
        decision = ch.observe(theirs, mine)
        if decision == "wait":
            return decision, None
        return decision, _challenger_alert(ch.record(decision, position))

    def act(self, action: str, position: int) -> list[Alert]:
        """Carry out a drift action on this model."""
        name = self.name
        if action == "reset_model":
            self.learner = self.learner.fresh()
            self.resets += 1
            return [Alert("model_reset", "drift_action", name, position,
                          details={"from": name, "to": name})]  # fmt: skip
        if action == "challenger" and self.racing is None:
            size = self.challenger_settings.sample
            self.examples = UniformReservoir(size, seed=self.labels_seen)
        return []

    def _start_challenger(
        self, names: tuple[str, ...], sparse: tuple[bool, ...], position: int
    ) -> Alert:
        assert self.examples is not None
        sample = self.examples.sample()
        self.examples = None
        learner = self.learner.fresh()
        X = np.vstack([s[1] for s in sample])
        dicts = None if sample[0][0] is None else [s[0] for s in sample]
        m = len(sample)
        learner.run(X, dicts, names, sparse, np.ones(m, np.int8), np.arange(m),
                    [s[2] for s in sample], None)  # fmt: skip
        s = self.challenger_settings
        self.racing = Challenger(learner, self.name, s.alpha, s.min_events, s.max_events)
        name = self.name
        details = {"from": name, "to": f"{name} (challenger)", "trained_on": m}
        return Alert("challenger_start", "challenger", name, position, details=details)

    def summary(self) -> dict[str, Any] | None:
        if self.racing is None:
            return None
        return {"events": self.racing.events, "p_value": self.racing.p_value}


def _event_predict(ops: Ops, predict_at: np.ndarray) -> np.ndarray:
    """For each learn op whose event was predicted in this batch, the index (among the predict
    ops) of that prediction; -1 otherwise (and for predict ops). The batch's events are the
    first rows of ``X``, each predicted once."""
    out = np.full(len(ops.kinds), -1, dtype=np.int64)
    row_predict = np.full(len(ops.X), -1, dtype=np.int64)
    row_predict[ops.rows[ops.predict]] = predict_at[ops.predict]
    learn = ops.learn
    out[learn] = row_predict[ops.rows[learn]]
    return out


def _objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


class _Probabilities:
    """The probabilities of a lane's predictions and of its labels' frozen predictions, over
    the union of the classes met. NaN marks a class a prediction did not give (unknown to the
    model then), told apart from a probability of 0: which classes a batch met depends on the
    batch, what each prediction gave does not."""

    def __init__(self, n_predict: int, n_learn: int, probabilistic: bool) -> None:
        self.on = probabilistic
        self.classes: list[Any] = []
        self.P = np.zeros((n_predict, 0))
        self.L = np.zeros((n_learn, 0))

    def _columns(self, classes: Sequence[Any]) -> list[int]:
        new = [c for c in classes if c not in self.classes]
        if new:
            self.classes.extend(new)
            self.P = np.hstack([self.P, np.full((len(self.P), len(new)), np.nan)])
            self.L = np.hstack([self.L, np.full((len(self.L), len(new)), np.nan)])
        if list(classes) == self.classes:
            return list(range(len(self.classes)))
        return [self.classes.index(c) for c in classes]

    def predicted(self, idx: np.ndarray, answers: Answers) -> None:
        if self.on and answers.P is not None:
            cols = self._columns(answers.classes)  # may grow P: index it after
            self.P[idx] = np.nan  # a row run again (after a reset) keeps nothing of the first
            self.P[np.ix_(idx, cols)] = answers.P

    def labeled_here(self, lj: np.ndarray, at: np.ndarray) -> None:
        if self.on and len(lj):
            self.L[lj] = self.P[at]

    def labeled_earlier(self, j: int, frozen: tuple[Sequence[Any], np.ndarray] | None) -> None:
        if self.on and frozen is not None:
            classes, row = frozen
            cols = self._columns(classes)  # may grow L: index it after
            self.L[j, cols] = row

    def of_predictions(self) -> tuple[np.ndarray | None, list[Any]]:
        return (self.P, list(self.classes)) if self.on else (None, [])

    def of_labels(self, lj: np.ndarray) -> tuple[np.ndarray | None, list[Any] | None]:
        return (self.L[lj], list(self.classes)) if self.on else (None, None)


def _at(ops: Ops, op: int, alerts: list[Alert]) -> list[Alert]:
    """The alerts raised at op ``op``, placed there in the batch's merged order."""
    seq = int(ops.seq[op])
    return [replace(a, seq=seq) for a in alerts]


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


def _challenger_alert(record: dict[str, Any]) -> Alert:
    """A challenger's promotion or drop record as an alert."""
    details = {
        k: v for k, v in record.items() if k not in ("kind", "statistic", "p_value", "position")
    }
    return Alert(
        record["kind"],
        "challenger",
        record["from"],
        int(record["position"]),
        statistic=record.get("statistic"),
        p_value=record.get("p_value"),
        details=details,
    )
