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

>>> lr = Learner("lr", "logistic_regression")
>>> lr.predict([{"x": 1.0}])
[False]
>>> lr.score([True], [False]); lr.learn([{"x": 1.0}], [True]); lr.summary()["events_learned"]
1
>>> fast = Learner("fast", "fast_logistic_regression")
>>> fast.vectorized, fast.predict(X=np.ones((2, 1)), names=["x"])
(True, [False, False])
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from river import base

from online_models.errors import ModelError
from online_models.imbalance import ClassWeights, wrap_sampler
from online_models.metrics import ClassificationMetrics, RegressionMetrics
from online_models.registry import build

__all__ = ["TASKS", "BatchModel", "Learner", "proba_dicts", "top_k"]

TASKS = ("classification", "regression")

Dicts = Sequence[Mapping[Hashable, float]]


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


class Learner:
    """One candidate model: predicts, is scored on late labels, then learns.

    Args:
        name: the model's name in the job (outputs, run summary, checkpoint files).
        estimator: a registry name (alias, ``river.*`` or ``online_models.*`` dotted path).
        params: keyword arguments for the estimator.
        task: ``"classification"`` (headline metric: accuracy) or ``"regression"`` (MAE).
        window: events in the rolling window of the metrics (None: cumulative only).
        pos_label: positive class of the binary metrics; None for a multiclass task.
        class_weights: weigh each learned event by its class's online inverse frequency
            (needs an estimator that takes sample weights: vectorized ones, River's ``w``).
        sampler: wrap a River classifier in a River resampler: ``"under"``, ``"over"`` or
            ``"hard"`` (see :func:`~online_models.imbalance.wrap_sampler`).
        sampler_params: the sampler's arguments (``desired_dist``, ``size``, ``p``, ``seed``).
    """

    def __init__(
        self,
        name: str,
        estimator: str,
        params: dict[str, Any] | None = None,
        task: str = "classification",
        *,
        window: int | None = 1000,
        pos_label: Hashable | None = True,
        class_weights: bool = False,
        sampler: str | None = None,
        sampler_params: dict[str, Any] | None = None,
    ) -> None:
        if task not in TASKS:
            raise ModelError(f"model {name!r}: task must be one of {TASKS}, got {task!r}")
        self.name = name
        self.estimator = estimator
        self.params = dict(params or {})
        self.task = task
        self.window = window
        self.pos_label = pos_label
        self.class_weights = class_weights
        self.sampler = sampler
        self.sampler_params = dict(sampler_params or {})
        model = build(estimator, self.params)
        if sampler is not None:
            if task != "classification":
                raise ModelError(f"model {name!r}: sampler applies to classification only")
            model = wrap_sampler(model, sampler, self.sampler_params)
        self.model = model
        self.vectorized = isinstance(model, BatchModel)
        # River's default predict_one is the argmax of predict_proba_one: one call gives both.
        self._label_from_proba = (
            not self.vectorized
            and task == "classification"
            and type(model).predict_one is base.Classifier.predict_one
        )
        self._takes_weight = self.vectorized or (
            "w" in inspect.signature(model.learn_one).parameters
        )
        if class_weights and (task != "classification" or not self._takes_weight):
            raise ModelError(
                f"model {name!r}: class_weights needs a classifier that learns with sample "
                f"weights; {estimator!r} does not"
            )
        self._class_weights = ClassWeights() if class_weights else None
        self.metrics: ClassificationMetrics | RegressionMetrics = (
            ClassificationMetrics(window, pos_label)
            if task == "classification"
            else RegressionMetrics(window)
        )
        self.events_learned = 0

    def predict(
        self,
        xs: Dicts | None = None,
        X: np.ndarray | None = None,
        names: Sequence[Hashable] | None = None,
    ) -> list[Any]:
        """Predict each event's target (None when the model cannot answer yet)."""
        if self.vectorized:
            return self.model.predict(*_matrix(xs, X, names))
        predict_one = self.model.predict_one
        return [predict_one(x) for x in _dicts(xs, X, names)]

    def predict_proba(
        self,
        xs: Dicts | None = None,
        X: np.ndarray | None = None,
        names: Sequence[Hashable] | None = None,
    ) -> tuple[list[Any], np.ndarray]:
        """``(classes, P)``: class probabilities of each event, ``P`` of shape ``(n, k)``."""
        if self.task != "classification":
            raise ModelError(f"model {self.name!r}: predict_proba needs a classifier")
        if self.vectorized:
            P = self.model.predict_proba(*_matrix(xs, X, names))
            return list(self.model.classes), P
        predict_proba_one = self.model.predict_proba_one
        dicts = [predict_proba_one(x) for x in _dicts(xs, X, names)]
        classes = list(dict.fromkeys(c for d in dicts for c in d))
        P = np.array([[d.get(c, 0.0) for c in classes] for d in dicts], dtype=float)
        return classes, P.reshape(len(dicts), len(classes))

    def predict_batch(
        self,
        xs: Dicts | None = None,
        X: np.ndarray | None = None,
        names: Sequence[Hashable] | None = None,
    ) -> tuple[list[Any], list[dict[Any, float]] | None]:
        """Predictions and, for a classifier, each event's class probabilities as a dict.

        The prediction is exactly what :meth:`predict` gives (for River's default
        ``predict_one``, the first most probable class of ``predict_proba_one``), computed
        with one model call per event where the model allows it.
        """
        if self.task != "classification":
            return self.predict(xs, X, names), None
        if self.vectorized:
            X_, names_ = _matrix(xs, X, names)
            n = len(X_)
            preds, P = self.model.run(X_, names_, np.zeros(n, np.int8), np.arange(n), [])
            return preds, proba_dicts(self.model.classes, P)
        if self._label_from_proba:
            predict_proba_one = self.model.predict_proba_one
            probas = [predict_proba_one(x) for x in _dicts(xs, X, names)]
            return [max(p, key=p.get) if p else None for p in probas], probas
        classes, P = self.predict_proba(xs, X, names)
        return self.predict(xs, X, names), proba_dicts(classes, P)

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
        keep = [i for i, p in enumerate(preds) if p is not None]
        if len(keep) < len(preds):
            ys = [ys[i] for i in keep]
            preds = [preds[i] for i in keep]
            if proba is not None:
                proba = proba[keep] if isinstance(proba, np.ndarray) else [proba[i] for i in keep]
        self.metrics.update(ys, preds, proba, classes)

    def learn(
        self,
        xs: Dicts | None,
        ys: Sequence[Any],
        X: np.ndarray | None = None,
        names: Sequence[Hashable] | None = None,
        sample_weight: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Learn the events' labels ``ys``, with optional per-event importance weights."""
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if w is not None and not self._takes_weight:
            raise ModelError(f"model {self.name!r}: {self.estimator!r} takes no sample weights")
        if self._class_weights is not None:  # one label at a time: batch cuts change nothing
            update = self._class_weights.update
            cw = np.array([update([y])[0] for y in ys], dtype=float)
            w = cw if w is None else w * cw
        if self.vectorized:
            X_, names_ = _matrix(xs, X, names)
            self.model.learn(X_, ys, names_, w)
        elif w is None:
            learn_one = self.model.learn_one
            for x, y in zip(_dicts(xs, X, names), ys, strict=True):
                learn_one(x, y)
        else:
            learn_one = self.model.learn_one
            for x, y, wi in zip(_dicts(xs, X, names), ys, w.tolist(), strict=True):
                learn_one(x, y, w=wi)
        self.events_learned += len(ys)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: estimator, headline metric and value, events learned, all metrics."""
        report = self.metrics.report()
        metric = "accuracy" if self.task == "classification" else "mae"
        return {
            "estimator": self.estimator,
            "metric": metric,
            "value": report["cumulative"][metric],
            "events_learned": self.events_learned,
            "vectorized": self.vectorized,
            "metrics": report,
        }
