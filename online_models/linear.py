"""Vectorized numpy linear learners that learn on micro-batches, with River's update rules.

Each learner takes a dense matrix ``X`` of shape ``(n_events, n_columns)`` and the columns'
``names`` (positions ``0..n_columns-1`` when None). Weights are kept by feature name: a column
never seen before gets a zero weight the first time it is learned; a known feature absent from a
batch keeps its weight and optimizer state untouched (River's behaviour for a key missing from
an event's dict); at prediction time an unknown column contributes nothing.

Batch semantics (River's ``learn_many``): ``learn`` takes ONE optimizer step per batch, with the
MEAN over the batch of the per-event gradients (each multiplied by its sample weight, then
clipped), plus the L2 term; the intercept moves by ``intercept_lr`` times the mean loss gradient.
With one event per batch this is exactly River's ``learn_one``: predictions agree with River's
to floating-point rounding for the same optimizer settings (see the tests). Predictions of a
batch use the weights from before the batch; features are assumed finite (validated upstream).

>>> m = LogisticRegression(optimizer="sgd", lr=0.5)
>>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> for _ in range(20):
...     m.learn(X, [True, False], names=["a", "b"])
>>> m.predict(np.array([[1.0], [-1.0]]), names=["a"]).tolist()
[True, False]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from online_models.errors import ModelError
from online_models.imbalance import ClassWeights
from online_models.optimizers import Optimizer, make_optimizer

__all__ = ["LinearRegression", "LogisticRegression", "SoftmaxRegression"]

Names = Sequence[Hashable]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow for large ``|z|``."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class _Columns:
    """Feature name -> weight position, and the layout of the last batch seen.

    Batches almost always repeat the previous layout, so it is computed once and reused.
    """

    def __init__(self) -> None:
        self.names: list[Hashable] = []
        self.position: dict[Hashable, int] = {}
        self._last: tuple[Any, ...] = ((), -1, None, None)

    def add(self, names: tuple[Hashable, ...]) -> bool:
        """Append the unknown ``names``; True if any was new."""
        new = [n for n in names if n not in self.position]
        for n in new:
            self.position[n] = len(self.names)
            self.names.append(n)
        return bool(new)

    def layout(self, names: tuple[Hashable, ...]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(keep, cols)``: the batch columns with a weight (None: all) and their positions
        (None: exactly positions ``0..d-1`` in order, so the weight vector is used whole)."""
        key, d, keep, cols = self._last
        if key == names and d == len(self.names):
            return keep, cols
        pos = [self.position.get(n, -1) for n in names]
        known = [p for p in pos if p >= 0]
        keep = None if len(known) == len(pos) else np.flatnonzero(np.array(pos) >= 0)
        cols = None if known == list(range(len(self.names))) else np.array(known, dtype=np.intp)
        self._last = (names, len(self.names), keep, cols)
        return keep, cols


class _Linear:
    """What the linear learners share: named columns, the optimizer, sample and class weights.

    Args:
        optimizer: ``"sgd"``, ``"adam"``, ``"adagrad"``, or an optimizer instance (copied).
        lr: learning rate of a named optimizer (None: the optimizer's default, as in River).
        l2: L2 penalty on the weights (not on the intercept).
        intercept_lr: the intercept's own constant learning rate (0 freezes it).
    """

    def __init__(
        self, optimizer: str | Optimizer, lr: float | None, l2: float, intercept_lr: float
    ) -> None:
        if l2 < 0:
            raise ModelError(f"{type(self).__name__}.l2: expected a number >= 0, got {l2!r}")
        self.optimizer = optimizer
        self.lr = lr
        self.l2 = l2
        self.intercept_lr = intercept_lr
        self._optimizer = make_optimizer(type(self).__name__, optimizer, lr)
        self._columns = _Columns()

    @property
    def features(self) -> list[Hashable]:
        """The feature names with a weight, in the order they were first learned."""
        return list(self._columns.names)

    def _matrix(
        self, X: np.ndarray, names: Names | None
    ) -> tuple[np.ndarray, tuple[Hashable, ...]]:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ModelError(f"{type(self).__name__}: X must be 2-D, got shape {X.shape}")
        cols = tuple(range(X.shape[1])) if names is None else tuple(names)
        if len(cols) != X.shape[1]:
            raise ModelError(
                f"{type(self).__name__}: {len(cols)} names for {X.shape[1]} columns of X"
            )
        if len(set(cols)) != len(cols):
            raise ModelError(f"{type(self).__name__}: duplicate feature names in {list(cols)!r}")
        return X, cols

    def _known(self, X: np.ndarray, names: Names | None) -> tuple[np.ndarray, np.ndarray | None]:
        """``X`` restricted to the columns with a weight, and their weight positions."""
        X, key = self._matrix(X, names)
        keep, cols = self._columns.layout(key)
        return (X if keep is None else X[:, keep]), cols

    def _learnable(
        self, X: np.ndarray, names: Names | None, n_rows: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Like :meth:`_known`, after giving the batch's new features a zero weight."""
        X, key = self._matrix(X, names)
        if len(X) != n_rows:
            raise ModelError(f"{type(self).__name__}: {len(X)} rows of X for {n_rows} targets")
        if self._columns.add(key):
            self._grow_features(len(self._columns.names))
        _, cols = self._columns.layout(key)
        return X, cols

    def _grow_features(self, d: int) -> None:
        raise NotImplementedError

    def _weights(self, sample_weight: Any, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=float)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ModelError(
                f"{type(self).__name__}: sample_weight must be {n} finite numbers >= 0"
            )
        return w


def _class_weights(owner: str, class_weight: str | None) -> ClassWeights | None:
    if class_weight is None:
        return None
    if class_weight != "balanced":
        raise ModelError(f"{owner}.class_weight: expected None or 'balanced', got {class_weight!r}")
    return ClassWeights()


def _combine(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return a if b is None else b
    return a * b


class _GLM(_Linear):
    """A generalized linear model with one output: River's ``linear_model.base.GLM``."""

    def __init__(
        self,
        optimizer: str | Optimizer,
        lr: float | None,
        l2: float,
        intercept_init: float,
        intercept_lr: float,
        clip_gradient: float,
    ) -> None:
        super().__init__(optimizer, lr, l2, intercept_lr)
        self.intercept_init = intercept_init
        self.clip_gradient = clip_gradient
        self.intercept = float(intercept_init)
        self.weights = np.zeros(0)
        self._optimizer.resize(self.weights.shape)

    def _grow_features(self, d: int) -> None:
        self.weights = np.concatenate([self.weights, np.zeros(d - len(self.weights))])
        self._optimizer.resize(self.weights.shape)

    def _raw(self, X: np.ndarray, names: Names | None) -> np.ndarray:
        Xk, cols = self._known(X, names)
        return Xk @ (self.weights if cols is None else self.weights[cols]) + self.intercept

    def _loss_gradient(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _step(
        self, X: np.ndarray, cols: np.ndarray | None, y: np.ndarray, w: np.ndarray | None
    ) -> None:
        weights = self.weights if cols is None else self.weights[cols]
        g = self._loss_gradient(y, X @ weights + self.intercept)
        if w is not None:
            g = g * w
        g = np.clip(g, -self.clip_gradient, self.clip_gradient)
        grad = X.T @ g / len(g)
        if self.l2:
            grad += self.l2 * weights
        self.intercept -= self.intercept_lr * float(g.mean())
        self._optimizer.step(self.weights, grad, cols)


class LogisticRegression(_GLM):
    """Binary logistic regression on micro-batches; River's ``LogisticRegression`` at batch size 1.

    Labels are ``False``/``True`` (or 0/1); :attr:`classes` is ``[False, True]`` and
    :meth:`predict_proba` returns the two columns in that order.

    Args:
        optimizer: ``"sgd"`` (River's default, ``SGD(0.01)``), ``"adam"``, ``"adagrad"``, or an
            :class:`~online_models.optimizers.Optimizer` instance.
        lr: learning rate of a named optimizer (None: its default: 0.01 SGD, 0.1 Adam/AdaGrad).
        l2: L2 penalty on the weights.
        intercept_init: initial intercept.
        intercept_lr: the intercept's constant learning rate (River's default 0.01).
        clip_gradient: bound on the absolute (weighted) loss gradient of each event.
        class_weight: ``"balanced"`` to weigh each event by its class's online inverse frequency
            (:class:`~online_models.imbalance.ClassWeights`), or None.
        focal_gamma: focusing parameter of the focal loss ``-(1 - p_t)^gamma log(p_t)`` of Lin et
            al. 2017 (not River's FL* variant); 0 is the log loss.

    >>> m = LogisticRegression(class_weight="balanced", focal_gamma=2.0)
    >>> m.learn(np.array([[1.0], [2.0]]), [True, False])
    >>> m.predict_proba(np.array([[1.0]])).shape
    (1, 2)
    """

    def __init__(
        self,
        optimizer: str | Optimizer = "sgd",
        lr: float | None = None,
        l2: float = 0.0,
        intercept_init: float = 0.0,
        intercept_lr: float = 0.01,
        clip_gradient: float = 1e12,
        class_weight: str | None = None,
        focal_gamma: float = 0.0,
    ) -> None:
        super().__init__(optimizer, lr, l2, intercept_init, intercept_lr, clip_gradient)
        if focal_gamma < 0:
            raise ModelError(f"LogisticRegression.focal_gamma: expected >= 0, got {focal_gamma!r}")
        self.class_weight = class_weight
        self.focal_gamma = focal_gamma
        self._class_weights = _class_weights("LogisticRegression", class_weight)

    @property
    def classes(self) -> list[bool]:
        """The columns of :meth:`predict_proba`."""
        return [False, True]

    def predict_proba(self, X: np.ndarray, names: Names | None = None) -> np.ndarray:
        """Probabilities of ``False`` and ``True``, shape ``(n, 2)``."""
        p = _sigmoid(self._raw(X, names))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray, names: Names | None = None) -> np.ndarray:
        """``True`` where the probability of ``True`` is above 0.5 (River's rule)."""
        return _sigmoid(self._raw(X, names)) > 0.5

    def learn(
        self,
        X: np.ndarray,
        y: Sequence[Any] | np.ndarray,
        names: Names | None = None,
        sample_weight: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """One step on the batch: labels ``y`` (bools or 0/1), optional per-event weights."""
        try:
            yv = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            yv = np.array([np.nan])
        if yv.ndim != 1 or not np.all((yv == 0.0) | (yv == 1.0)):
            raise ModelError("LogisticRegression: labels must be False/True or 0/1")
        w = self._weights(sample_weight, len(yv))
        X, cols = self._learnable(X, names, len(yv))
        if self._class_weights is not None:
            w = _combine(w, self._class_weights.update(yv.astype(bool)))
        self._step(X, cols, yv, w)

    def _loss_gradient(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        s = 2.0 * y - 1.0  # {0, 1} -> {-1, 1}
        q = _sigmoid(-s * z)  # 1 - p_t, the probability given to the wrong class
        gamma = self.focal_gamma
        if gamma == 0.0:
            return -s * q
        p_t, log_pt = _sigmoid(s * z), -np.logaddexp(0.0, -s * z)
        return s * q**gamma * (gamma * p_t * log_pt - q)


class LinearRegression(_GLM):
    """Least-squares linear regression on micro-batches; River's ``LinearRegression`` at size 1.

    The loss is River's ``Squared``: ``(y_pred - y)^2``, gradient ``2 (y_pred - y)``.

    Args:
        optimizer: ``"sgd"``, ``"adam"``, ``"adagrad"``, or an optimizer instance.
        lr: learning rate of a named optimizer (None: its default).
        l2: L2 penalty on the weights.
        intercept_init: initial intercept.
        intercept_lr: the intercept's constant learning rate.
        clip_gradient: bound on the absolute (weighted) loss gradient of each event.

    >>> m = LinearRegression(lr=0.1, intercept_lr=0.1)
    >>> for _ in range(200):
    ...     m.learn(np.array([[0.0], [1.0]]), [1.0, 3.0], names=["x"])
    >>> np.round(m.predict(np.array([[2.0]]), names=["x"]), 2).tolist()
    [5.0]
    """

    def __init__(
        self,
        optimizer: str | Optimizer = "sgd",
        lr: float | None = None,
        l2: float = 0.0,
        intercept_init: float = 0.0,
        intercept_lr: float = 0.01,
        clip_gradient: float = 1e12,
    ) -> None:
        super().__init__(optimizer, lr, l2, intercept_init, intercept_lr, clip_gradient)

    def predict(self, X: np.ndarray, names: Names | None = None) -> np.ndarray:
        """The predicted targets, shape ``(n,)``."""
        return self._raw(X, names)

    def learn(
        self,
        X: np.ndarray,
        y: Sequence[float] | np.ndarray,
        names: Names | None = None,
        sample_weight: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """One step on the batch of targets ``y``, with optional per-event weights."""
        try:
            yv = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            yv = np.array([np.nan])
        if yv.ndim != 1 or not np.all(np.isfinite(yv)):
            raise ModelError("LinearRegression: targets must be finite numbers")
        w = self._weights(sample_weight, len(yv))
        X, cols = self._learnable(X, names, len(yv))
        self._step(X, cols, yv, w)

    def _loss_gradient(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return 2.0 * (z - y)


class SoftmaxRegression(_Linear):
    """Multinomial logistic regression; classes are discovered as they appear.

    With ``intercept_lr=0`` and batch size 1 this is River's ``SoftmaxRegression`` (which has no
    intercept): a class unknown before a batch has probability 0 (clamped to 1e-15, as River's
    ``CrossEntropy`` does) in that batch's gradient. Each class keeps its own step count, as River
    keeps one optimizer per class.

    Args:
        optimizer: ``"sgd"``, ``"adam"``, ``"adagrad"``, or an optimizer instance.
        lr: learning rate of a named optimizer (None: its default).
        l2: L2 penalty on the weights.
        intercept_lr: the intercepts' constant learning rate (0: no intercepts, as in River).
        class_weight: ``"balanced"`` for online inverse-frequency event weights, or None.

    >>> m = SoftmaxRegression(lr=0.5)
    >>> for _ in range(30):
    ...     m.learn(np.eye(3), ["a", "b", "c"])
    >>> m.classes, m.predict(np.eye(3)).tolist()
    (['a', 'b', 'c'], ['a', 'b', 'c'])
    """

    def __init__(
        self,
        optimizer: str | Optimizer = "sgd",
        lr: float | None = None,
        l2: float = 0.0,
        intercept_lr: float = 0.01,
        class_weight: str | None = None,
    ) -> None:
        super().__init__(optimizer, lr, l2, intercept_lr)
        self.class_weight = class_weight
        self._class_weights = _class_weights("SoftmaxRegression", class_weight)
        self.classes: list[Hashable] = []
        self._class_pos: dict[Hashable, int] = {}
        self.weights = np.zeros((0, 0))
        self.intercepts = np.zeros(0)
        self._optimizer.resize(self.weights.shape)

    def _grow(self, n_classes: int, d: int) -> None:
        grown = np.zeros((n_classes, d))
        grown[: self.weights.shape[0], : self.weights.shape[1]] = self.weights
        self.weights = grown
        self.intercepts = np.concatenate(
            [self.intercepts, np.zeros(n_classes - len(self.intercepts))]
        )
        self._optimizer.resize(grown.shape)

    def _grow_features(self, d: int) -> None:
        self._grow(len(self.classes), d)

    def _proba(self, X: np.ndarray, cols: np.ndarray | None) -> np.ndarray:
        W = self.weights if cols is None else self.weights[:, cols]
        z = X @ W.T + self.intercepts
        if z.shape[1]:
            z = np.exp(z - z.max(axis=1, keepdims=True))
            z /= z.sum(axis=1, keepdims=True)
        return z

    def predict_proba(self, X: np.ndarray, names: Names | None = None) -> np.ndarray:
        """Probabilities of :attr:`classes`, shape ``(n, n_classes)``."""
        return self._proba(*self._known(X, names))

    def predict(self, X: np.ndarray, names: Names | None = None) -> np.ndarray:
        """The most probable class of each row (None before any class was learned)."""
        P = self.predict_proba(X, names)
        if not self.classes:
            return np.full(len(P), None, dtype=object)
        labels = np.empty(len(self.classes), dtype=object)
        labels[:] = self.classes
        return labels[P.argmax(axis=1)]

    def learn(
        self,
        X: np.ndarray,
        y: Sequence[Hashable] | np.ndarray,
        names: Names | None = None,
        sample_weight: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """One step on the batch of labels ``y`` (any hashable), with optional event weights."""
        labels = y.tolist() if isinstance(y, np.ndarray) else list(y)
        w = self._weights(sample_weight, len(labels))
        X, cols = self._learnable(X, names, len(labels))
        P_known = self._proba(X, cols)
        for c in dict.fromkeys(labels):
            if c not in self._class_pos:
                self._class_pos[c] = len(self.classes)
                self.classes.append(c)
        if len(self.classes) > P_known.shape[1]:
            self._grow(len(self.classes), self.weights.shape[1])
        if self._class_weights is not None:
            w = _combine(w, self._class_weights.update(labels))
        n = len(labels)
        G = np.zeros((n, len(self.classes)))
        G[:, : P_known.shape[1]] = P_known
        np.clip(G, 1e-15, 1.0 - 1e-15, out=G)
        G[np.arange(n), [self._class_pos[c] for c in labels]] -= 1.0
        if w is not None:
            G *= w[:, None]
        W = self.weights if cols is None else self.weights[:, cols]
        grad = G.T @ X / n
        if self.l2:
            grad += self.l2 * W
        self.intercepts -= self.intercept_lr * G.mean(axis=0)
        self._optimizer.step(self.weights, grad, cols)
