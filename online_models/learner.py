"""A named model with its prequential (test-then-train) metrics, on either of two paths.

Design: ONE :class:`Learner` class, two paths chosen once, when it is built.

* The vectorized path, for estimators that satisfy :class:`BatchModel` (the compiled learners
  of :mod:`online_models.linear`): a matrix in, one call per micro-batch, each event learned
  in order inside the call.
* The per-event path, for River estimators: one dict per event, ``predict_one``/``learn_one``.

Every method takes the batch's features in either form, ``xs`` (one dict per event) or ``X``
plus ``names`` (a dense matrix and its column names, as ``FeatureBlock`` carries them), and
converts only when the path needs the other form: a flow with both kinds of model passes both.
:attr:`Learner.vectorized` tells which form a learner uses. ``predict`` returns one label (or
number) per event; ``predict_proba`` returns ``(classes, P)``, an ``(n, k)`` array whose columns
are ``classes``, which :func:`top_k` and :func:`proba_dicts` turn into per-event outputs.

>>> lr = Learner(ModelSettings("lr", "logistic_regression"))
>>> lr.predict([{"x": 1.0}])
[False]
>>> lr.score([True], [False]); lr.learn([{"x": 1.0}], [True]); lr.summary()["events_learned"]
1
>>> fast = Learner(ModelSettings("fast", "fast_logistic_regression"))
>>> fast.vectorized, fast.predict(X=np.ones((2, 1)), names=["x"])
(True, [False, False])
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from math import isfinite
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
from river import base

from online_models.errors import ModelError
from online_models.imbalance import SAMPLERS, ClassWeights, wrap_sampler
from online_models.registry import build, resolve
from online_models.scoring import MetricsSettings
from online_models.tasks import Task, task
from operators.settings import Reason, Settings, boolean, one_of, setting, table
from operators.settings import name as _name

__all__ = ["Answers", "BatchModel", "ModelSettings", "Learner", "proba_dicts", "top_k"]

CLASSIFICATION = task("classification")
DEFAULT_METRICS = MetricsSettings()

Dicts = Sequence[Mapping[Hashable, float]]


class Answers(NamedTuple):
    """A model's answers to the predict ops of a run: one prediction each (None: no answer
    yet) and, for a classifier, the ``(n, len(classes))`` probabilities; and the ops the model
    raised on (their index among the run's ops, and the error), skipped."""

    predictions: list[Any]
    P: np.ndarray | None
    classes: list[Any]
    failures: list[tuple[int, Exception]] = []


@runtime_checkable
class BatchModel(Protocol):
    """An estimator that runs a micro-batch's op sequence (predict and learn ops, in order)
    in one call.

    Classifiers also have ``classes`` (a list) and ``predict_proba(X, names) -> (n, k)``.
    """

    def run(
        self,
        X: np.ndarray,
        names: Sequence[Hashable] | None,
        ops: Sequence[int] | np.ndarray,
        rows: Sequence[int] | np.ndarray,
        y: Sequence[Any],
        sample_weight: Sequence[float] | np.ndarray | None = None,
        sparse: Sequence[bool] | None = None,
    ) -> tuple[list[Any], np.ndarray | None]: ...

    def predict(self, X: np.ndarray, names: Sequence[Hashable] | None = None) -> list[Any]: ...

    def learn(
        self,
        X: np.ndarray,
        y: Sequence[Any],
        names: Sequence[Hashable] | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> None: ...


def top_k(classes: Sequence[Any], P: np.ndarray, k: int) -> list[list[tuple[Any, float]]]:
    """The ``k`` most probable classes of each row of ``P``, most probable first.

    >>> top_k(["a", "b", "c"], np.array([[0.2, 0.5, 0.3]]), 2)
    [[('b', 0.5), ('c', 0.3)]]
    """
    if k < 1:
        raise ModelError(f"top_k: expected k >= 1, got {k!r}")
    order = np.argsort(-P, axis=1, kind="stable")[:, :k]
    probs = np.take_along_axis(P, order, axis=1).tolist()
    return [
        [(classes[j], p) for j, p in zip(row, ps, strict=True)]
        for row, ps in zip(order.tolist(), probs, strict=True)
    ]


def proba_dicts(classes: Sequence[Any], P: np.ndarray) -> list[dict[Any, float]]:
    """One ``{class: probability}`` dict per row of ``P`` (River's form)."""
    return [dict(zip(classes, row, strict=True)) for row in P.tolist()]


def _dicts(
    xs: Dicts | None, X: np.ndarray | None, names: Sequence[Hashable] | None
) -> Sequence[Mapping[Hashable, float]]:
    if xs is not None:
        return xs
    if X is None:
        raise ModelError("learner: pass the features as xs (dicts) or X (matrix)")
    cols = list(range(X.shape[1])) if names is None else list(names)
    return [dict(zip(cols, row, strict=True)) for row in np.asarray(X).tolist()]


def _matrix(
    xs: Dicts | None, X: np.ndarray | None, names: Sequence[Hashable] | None
) -> tuple[np.ndarray, Sequence[Hashable] | None]:
    if X is not None:
        return X, names
    if xs is None:
        raise ModelError("learner: pass the features as xs (dicts) or X (matrix)")
    cols = list(dict.fromkeys(k for x in xs for k in x))
    try:  # NaN: a key absent from an event's dict, which the compiled learners leave alone
        return np.array([[x.get(c, np.nan) for c in cols] for x in xs], dtype=float), cols
    except (TypeError, ValueError):
        raise ModelError("learner: a vectorized model needs numeric features") from None


def _estimator(v: Any) -> str | None:
    if not isinstance(v, str) or not v:
        return "a non-empty string"
    try:
        resolve(v)
    except ModelError as exc:
        return Reason(str(exc).split(": ", 1)[-1])
    return None


@dataclass(frozen=True)
class ModelSettings(Settings):
    """One ``[[models]]`` table: a named candidate model.

    Attributes:
        name: the model's name in the job (outputs, run summary, checkpoint files).
        estimator: a registry name (alias, ``river.*`` or ``online_models.*`` dotted path).
        params: keyword arguments for the estimator.
        class_weights: weigh each learned event by its class's online inverse frequency
            (needs an estimator that takes sample weights: vectorized ones, River's ``w``).
        sampler: wrap a River classifier in a River resampler: ``"under"``, ``"over"`` or
            ``"hard"`` (see :func:`~online_models.imbalance.wrap_sampler`); empty: none.
        sampler_params: the sampler's arguments (``desired_dist``, ``size``, ``p``, ``seed``).
    """

    name: str = setting(check=_name)
    estimator: str = setting(check=_estimator)
    params: dict[str, Any] = setting({}, table)
    class_weights: bool = setting(False, boolean)
    sampler: str = setting("", one_of("", *SAMPLERS))
    sampler_params: dict[str, Any] = setting({}, table)


class Learner:
    """One candidate model: predicts, is scored on late labels, then learns.

    Args:
        spec: the model's settings.
        task: the job's task (classification: headline metric accuracy; regression: MAE).
        metrics: the ``[metrics]`` settings (rolling window, positive label of binary metrics,
            None for a multiclass task).
    """

    def __init__(
        self,
        spec: ModelSettings,
        task: Task = CLASSIFICATION,
        metrics: MetricsSettings = DEFAULT_METRICS,
    ) -> None:
        self.spec = spec
        self.task = task
        self.metrics_settings = metrics
        name, estimator = spec.name, spec.estimator
        model = build(estimator, spec.params)
        if spec.sampler:
            if not task.probabilistic:
                raise ModelError(f"model {name!r}: sampler applies to classification only")
            model = wrap_sampler(model, spec.sampler, spec.sampler_params)
        self.model = model
        self.vectorized = isinstance(model, BatchModel)
        # River's default predict_one is the argmax of predict_proba_one: one call gives both.
        self._label_from_proba = (
            not self.vectorized
            and task.probabilistic
            and type(model).predict_one is base.Classifier.predict_one
        )
        self._takes_weight = self.vectorized or (
            "w" in inspect.signature(model.learn_one).parameters
        )
        if spec.class_weights and (not task.probabilistic or not self._takes_weight):
            raise ModelError(
                f"model {name!r}: class_weights needs a classifier that learns with sample "
                f"weights; {estimator!r} does not"
            )
        self._class_weights = ClassWeights() if spec.class_weights else None
        self.metrics = task.metrics(metrics.window, metrics.pos_label)
        self.events_learned = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def estimator(self) -> str:
        return self.spec.estimator

    @property
    def binary(self) -> bool:
        """Whether the model is a binary classifier: its labels are False/True or 0/1 (River's
        ``_multiclass`` marker)."""
        return self.task.probabilistic and not getattr(self.model, "_multiclass", True)

    def restart_metrics(self) -> dict[str, Any]:
        """Start the prequential metrics and the count of events learned afresh (the model
        itself is kept); return the summary of what they covered until now."""
        before = self.summary()
        settings = self.metrics_settings
        self.metrics = self.task.metrics(settings.window, settings.pos_label)
        self.events_learned = 0
        return before

    def fresh(self) -> Learner:
        """An untrained learner with the same settings."""
        return Learner(self.spec, self.task, self.metrics_settings)

    def run(
        self,
        X: np.ndarray,
        dicts: Dicts | None,
        names: Sequence[Hashable],
        sparse: Sequence[bool],
        kinds: np.ndarray,
        rows: np.ndarray,
        ys: Sequence[Any],
        weights: np.ndarray | None = None,
    ) -> Answers:
        """Predict and learn rows of ``X`` (or of ``dicts``, River's form), one op at a time in
        order: ``kinds[i]`` 0 predicts row ``rows[i]``, 1 learns it with the next label of
        ``ys`` (and weight of ``weights``).

        Returns:
            The predict ops' answers: predictions (None where the model cannot answer yet)
            and, for a classifier, their probabilities over ``classes``, NaN for a class the
            model did not give (River's dict lacks it; a compiled softmax did not know it).
        """
        n_learn = len(ys)
        w = None if weights is None else np.asarray(weights, dtype=float)
        if w is not None and not self._takes_weight:
            raise ModelError(f"model {self.name!r}: {self.estimator!r} takes no sample weights")
        if self._class_weights is not None and n_learn:
            cw = self._class_weights.update(ys)
            w = cw if w is None else w * cw
        self.events_learned += n_learn
        if self.vectorized:
            preds, P = self.model.run(X, names, kinds, rows, ys, w, sparse)
            if P is None:
                return Answers(list(preds), None, [])
            if getattr(self.model, "discovers_classes", False):  # 0: not known yet
                P = np.where(P == 0.0, np.nan, P)
            return Answers(list(preds), P, list(self.model.classes))
        if dicts is None:
            raise ModelError(f"model {self.name!r}: a River model needs the features as dicts")
        return self._run_river(dicts, kinds.tolist(), rows.tolist(), ys, w)

    def _run_river(
        self,
        dicts: Dicts,
        kinds: list[int],
        rows: list[int],
        ys: Sequence[Any],
        w: np.ndarray | None,
    ) -> Answers:
        model = self.model
        learn_one, predict_one = model.learn_one, model.predict_one
        probabilistic = self.task.probabilistic
        predict_proba_one = model.predict_proba_one if probabilistic else None
        from_proba = self._label_from_proba
        weights = None if w is None else w.tolist()
        preds: list[Any] = []
        probas: list[dict[Any, float]] = []
        failures: list[tuple[int, Exception]] = []
        j = 0
        for i, (kind, row) in enumerate(zip(kinds, rows)):
            x = dicts[row]
            # An error of the model on one record skips that record (the caller dead-letters
            # it), never the job: a prediction of None, a label not learned.
            try:
                if kind == 1:
                    j += 1
                    if weights is None:
                        learn_one(x, ys[j - 1])
                    else:
                        learn_one(x, ys[j - 1], w=weights[j - 1])
                    continue
                if from_proba:
                    assert predict_proba_one is not None
                    p = predict_proba_one(x)
                    pred = max(p, key=p.get) if p else None
                else:
                    pred = predict_one(x)
                    p = predict_proba_one(x) if predict_proba_one is not None else {}
                if type(pred) is float and not isfinite(pred):
                    raise ArithmeticError(f"the prediction {pred} is not finite (overflow?)")
            except Exception as exc:  # noqa: BLE001 - any model's error on one record
                failures.append((i, exc))
                if kind == 1:
                    self.events_learned -= 1
                    continue
                pred, p = None, {}
            preds.append(pred)
            probas.append(p)
        if not probabilistic:
            return Answers(preds, None, [], failures)
        classes = list(dict.fromkeys(c for d in probas for c in d))
        P = np.array([[d.get(c, np.nan) for c in classes] for d in probas], dtype=float)
        return Answers(preds, P.reshape(len(probas), len(classes)), classes, failures)

    def predict(
        self,
        xs: Dicts | None = None,
        X: np.ndarray | None = None,
        names: Sequence[Hashable] | None = None,
    ) -> list[Any]:
        """Predict each event's target (None when the model cannot answer yet)."""
        return self._all(0, xs, X, names, []).predictions

    def predict_proba(
        self,
        xs: Dicts | None = None,
        X: np.ndarray | None = None,
        names: Sequence[Hashable] | None = None,
    ) -> tuple[list[Any], np.ndarray]:
        """``(classes, P)``: class probabilities of each event, ``P`` of shape ``(n, k)``."""
        if not self.task.probabilistic:
            raise ModelError(f"model {self.name!r}: predict_proba needs a classifier")
        answers = self._all(0, xs, X, names, [])
        assert answers.P is not None
        return answers.classes, answers.P

    def learn(
        self,
        xs: Dicts | None,
        ys: Sequence[Any],
        X: np.ndarray | None = None,
        names: Sequence[Hashable] | None = None,
        sample_weight: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Learn the events' labels ``ys`` in order, with optional importance weights."""
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self._all(1, xs, X, names, ys, w)

    def _all(
        self,
        kind: int,
        xs: Dicts | None,
        X: np.ndarray | None,
        names: Sequence[Hashable] | None,
        ys: Sequence[Any],
        w: np.ndarray | None = None,
    ) -> Answers:
        """Every row predicted (kind 0) or learned (kind 1), in order."""
        if self.vectorized:
            X_, names_ = _matrix(xs, X, names)
            dicts = None
        else:
            dicts = _dicts(xs, X, names)
            X_, names_ = np.zeros((len(dicts), 0)), []
        n = len(X_) if dicts is None else len(dicts)
        kinds = np.full(n, kind, dtype=np.int8)
        sparse = (False,) * len(names_ or ())
        return self.run(X_, dicts, names_ or [], sparse, kinds, np.arange(n), ys, w)

    def score(
        self,
        ys: Sequence[Any],
        preds: Sequence[Any],
        proba: Dicts | np.ndarray | None = None,
        classes: Sequence[Hashable] | None = None,
    ) -> None:
        """Update the prequential metrics; predictions of None are not scored (as in River).

        Args:
            ys: the true labels (or targets).
            preds: the predictions made for those events.
            proba: their probabilities, per-event dicts or an array over ``classes``.
            classes: the columns of an array ``proba``.
        """
        if isinstance(proba, np.ndarray):
            proba = np.nan_to_num(proba, nan=0.0)  # a class not given: probability 0
        keep = [i for i, p in enumerate(preds) if p is not None]
        if len(keep) < len(preds):
            ys = [ys[i] for i in keep]
            preds = [preds[i] for i in keep]
            if proba is not None:
                proba = proba[keep] if isinstance(proba, np.ndarray) else [proba[i] for i in keep]
        self.metrics.update(ys, preds, proba, classes)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: estimator, headline metric and value, events learned, all metrics."""
        report = self.metrics.report()
        metric = self.task.metric
        return {
            "estimator": self.estimator,
            "metric": metric,
            "value": report["cumulative"][metric],
            "events_learned": self.events_learned,
            "vectorized": self.vectorized,
            "metrics": report,
        }
