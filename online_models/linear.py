"""Linear learners that learn one event at a time, in stream order, in a compiled loop.

Each learner runs an OP SEQUENCE (:meth:`~_Linear.run`): op 0 predicts a row of ``X``, op 1
learns a row with the next target, in the order given, so every prediction is made having
learned exactly the targets of the learn ops before it. The loop is compiled
(:mod:`online_models.linear_kernels`) and follows River's ``learn_one`` step for step, so a
learner equals River's ``LogisticRegression``, ``LinearRegression`` or ``SoftmaxRegression``
fed the same per-event dicts (to 1e-9, tested) whatever the batch size, and the same op
sequence cut into different calls gives bitwise the same results.

Features: ``X`` is a float matrix whose columns are ``names``. Weights are kept by feature
name: a name never learned has a zero weight. A column flagged ``sparse`` (one-hot, hashed)
is absent from an event where its value is 0, as in the dicts of
``operators.records.FeatureBlock.dicts()``; a dense column's 0 is present. A NaN is absent
in any column: it pads a row that comes from a layout without that column (features are
finite, validated upstream, so NaN carries no other meaning here). A learned event
moves the weights and optimizer state of its present features only (L2 included), as River
does; Adam's bias correction counts the model's steps.

Non-finite results: a learned event whose update would make a weight, an intercept or an
optimizer state non-finite (a feature of 1e200) is skipped whole and counted in
:attr:`~_Linear.skipped`; the model is as if it had not been learned (balanced class weights
still count its label). A prediction whose score is not finite is None (probabilities 0).

There is no mini-batch rule: learning a batch is learning its rows one after another.

>>> m = LogisticRegression(optimizer="sgd", lr=0.5)
>>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> preds, P = m.run(X, ["a", "b"], ops=[1, 1, 0, 0], rows=[0, 1, 0, 1], y=[1, 0])
>>> preds, P.round(3).tolist()
([1, 0], [[0.438, 0.562], [0.562, 0.438]])
>>> m.classes
[0, 1]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from online_models import linear_kernels as kernels
from online_models.errors import ModelError
from online_models.imbalance import ClassWeights
from online_models.optimizers import Optimizer, make_optimizer

__all__ = ["LinearRegression", "LogisticRegression", "SoftmaxRegression"]

Names = Sequence[Hashable]
Answers = tuple[list[Any], "np.ndarray | None"]

_MAX_CLASS_WEIGHT = ClassWeights().max_weight
_EMPTY = np.empty(0)


def _family(label: Any) -> str:
    """The kind of a label, for refusing a stream that mixes kinds (1 and "1")."""
    if isinstance(label, (bool, np.bool_)):
        return "bool"
    if isinstance(label, numbers.Number):
        return "number"
    if isinstance(label, str):
        return "str"
    return type(label).__name__


def _plain(label: Any) -> Any:
    """A numpy scalar as the Python scalar it holds (labels reach JSON sinks)."""
    return label.item() if isinstance(label, np.generic) else label


def _order_key(name: Hashable) -> tuple[str, Any]:
    """A total order on feature names: by type, then by value (by repr for other types)."""
    if isinstance(name, (str, int, float)):
        return type(name).__name__, name
    return type(name).__name__, repr(name)


class _Columns:
    """Feature name -> weight position, and the plan of the last column layout seen.

    A plan is ``(cols, slots, sparse)``: the columns of ``X`` that take part (those with a
    weight), sorted by feature name so that sums run in the same order whatever the layout of
    the call (and whatever the order in which names got their weights), their weight
    positions, and their sparse flags. Layouts repeat from batch to batch, so the last plan
    is reused.
    """

    def __init__(self) -> None:
        self.names: list[Hashable] = []
        self.position: dict[Hashable, int] = {}
        self._key: tuple[Any, ...] = ()
        self._plan: tuple[np.ndarray, np.ndarray, np.ndarray] = (_EMPTY, _EMPTY, _EMPTY)

    def check(
        self, owner: str, names: tuple[Hashable, ...], sparse: tuple[Any, ...] | None
    ) -> None:
        """Refuse duplicate names, or not one sparse flag per name (``owner``: the model).

        Raises:
            ModelError: naming the model and the problem.
        """
        if self._key[:2] == (names, sparse):
            return
        if len(set(names)) != len(names):
            raise ModelError(f"{owner}: duplicate feature names in {list(names)!r}")
        if sparse is not None and len(sparse) != len(names):
            raise ModelError(f"{owner}: {len(sparse)} sparse flags for {len(names)} columns")

    def plan(
        self, names: tuple[Hashable, ...], sparse: tuple[Any, ...] | None, learn: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The plan for :meth:`check`-ed ``names``; with ``learn``, unknown names get a weight
        position first."""
        key = (names, sparse, learn, len(self.names))
        if key == self._key:
            return self._plan
        if learn:
            for n in names:
                if n not in self.position:
                    self.position[n] = len(self.names)
                    self.names.append(n)
        pos = np.array([self.position.get(n, -1) for n in names], dtype=np.int64)
        order = sorted(range(len(names)), key=lambda j: _order_key(names[j]))
        cols = np.array([j for j in order if pos[j] >= 0], dtype=np.int64)
        flags = np.zeros(len(names), np.bool_) if sparse is None else np.array(sparse, np.bool_)
        self._plan = (cols, pos[cols], flags[cols])
        self._key = (names, sparse, learn, len(self.names))
        return self._plan


class _Linear:
    """What the linear learners share: named columns, the op sequence, sample weights.

    Args:
        optimizer: ``"sgd"``, ``"adam"``, ``"adagrad"``, or an optimizer instance.
        lr: learning rate of a named optimizer (None: the optimizer's default, as in River).
        l2: L2 penalty on the weights (not on the intercept).
        intercept_lr: the intercept's own constant learning rate (0 freezes it).
    """

    def __init__(
        self, optimizer: str | Optimizer, lr: float | None, l2: float, intercept_lr: float
    ) -> None:
        name = type(self).__name__
        if not (isinstance(l2, numbers.Real) and 0 <= l2 < math.inf):
            raise ModelError(f"{name}.l2: expected a finite number >= 0, got {l2!r}")
        if not (isinstance(intercept_lr, numbers.Real) and math.isfinite(intercept_lr)):
            raise ModelError(f"{name}.intercept_lr: expected a finite number, got {intercept_lr!r}")
        self.optimizer = optimizer
        self.lr: float | None = lr
        self.l2: float = l2
        self.intercept_lr: float = intercept_lr
        self._optimizer: Optimizer = make_optimizer(name, optimizer, lr)
        self._columns: _Columns = _Columns()
        self._counters: np.ndarray = np.zeros(2, dtype=np.int64)

    @property
    def features(self) -> list[Hashable]:
        """The feature names with a weight (the columns of every learning call), in order."""
        return list(self._columns.names)

    @property
    def skipped(self) -> int:
        """Learn ops skipped because their update was not finite."""
        return int(self._counters[1])

    def label_errors(self, ys: Sequence[Any]) -> list[str | None]:
        """Why each label of ``ys`` cannot be learned (None: it can), in order.

        Labels are judged as if the accepted ones before them had been learned, so the same
        stream of labels gets the same answers however it is cut into calls.
        """
        raise NotImplementedError

    def run(
        self,
        X: np.ndarray,
        names: Names | None,
        ops: Sequence[int] | np.ndarray,
        rows: Sequence[int] | np.ndarray,
        y: Sequence[Any] | np.ndarray,
        sample_weight: Sequence[float] | np.ndarray | None = None,
        sparse: Sequence[bool] | None = None,
    ) -> Answers:
        """Predict and learn rows of ``X`` one op at a time, in order.

        Args:
            X: the rows, ``(n_rows, n_columns)``.
            names: the columns' feature names (None: ``0..n_columns-1``).
            ops: one per operation, in stream order: 0 predicts row ``rows[i]``, 1 learns it
                with the next target of ``y``.
            rows: the row of ``X`` of each op.
            y: exactly one target per learn op, in op order (labels :meth:`label_errors`
                accepts).
            sample_weight: one weight >= 0 per learn op (None: all 1).
            sparse: per column, True where a 0 means "absent" (None: all dense).

        Returns:
            ``(predictions, P)`` for the predict ops, in op order: the predicted labels (or
            targets; None where the model cannot answer) and, for a classifier, the
            ``(n_predict, len(classes))`` probabilities of :attr:`classes` (None for a
            regression).
        """
        X, key = self._matrix(X, names)
        ops_ = np.ascontiguousarray(ops, dtype=np.int8)
        rows_ = np.ascontiguousarray(rows, dtype=np.int64)
        if ops_.ndim != 1 or rows_.shape != ops_.shape:
            raise ModelError(f"{self._name}: ops and rows must be two 1-D arrays of one length")
        n_learn = kernels.count_learn_ops(ops_, rows_, len(X))
        if n_learn == -1:
            raise ModelError(f"{self._name}: ops must be 0 (predict) or 1 (learn)")
        if n_learn == -2:
            raise ModelError(f"{self._name}: rows must index the {len(X)} rows of X")
        if len(y) != n_learn:
            raise ModelError(f"{self._name}: {len(y)} targets for {n_learn} learn ops")
        sw = self._sample_weights(sample_weight, n_learn)
        flags = None if sparse is None else tuple(sparse)
        self._columns.check(self._name, key, flags)
        targets = self._targets(y)
        cols, slots, sp = self._columns.plan(key, flags, learn=n_learn > 0)
        self._fit_features(len(self._columns.names))
        return self._run(X, cols, slots, sp, ops_, rows_, targets, sw, len(ops_) - n_learn)

    def predict(self, X: np.ndarray, names: Names | None = None) -> list[Any]:
        """The prediction for each row (None where the model cannot answer)."""
        X, _ = self._matrix(X, names)
        n = len(X)
        return self.run(X, names, np.zeros(n, np.int8), np.arange(n), [])[0]

    def learn(
        self,
        X: np.ndarray,
        y: Sequence[Any] | np.ndarray,
        names: Names | None = None,
        sample_weight: Sequence[float] | np.ndarray | None = None,
        sparse: Sequence[bool] | None = None,
    ) -> None:
        """Learn the rows of ``X`` one after another with targets ``y`` (a refused label is
        an error, and then nothing is learned)."""
        X, _ = self._matrix(X, names)
        labels = y.tolist() if isinstance(y, np.ndarray) else list(y)
        for error in self.label_errors(labels):
            if error is not None:
                raise ModelError(f"{self._name}: {error}")
        n = len(X)
        if len(labels) != n:
            raise ModelError(f"{self._name}: {n} rows of X for {len(labels)} targets")
        self.run(X, names, np.ones(n, np.int8), np.arange(n), labels, sample_weight, sparse)

    # --- for the subclasses ------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _targets(self, y: Sequence[Any] | np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit_features(self, d: int) -> None:
        raise NotImplementedError

    def _run(
        self,
        X: np.ndarray,
        cols: np.ndarray,
        slots: np.ndarray,
        sparse: np.ndarray,
        ops: np.ndarray,
        rows: np.ndarray,
        targets: np.ndarray,
        sw: np.ndarray,
        n_predict: int,
    ) -> Answers:
        raise NotImplementedError

    def _kernel_optimizer(self) -> tuple[int, float, float, float, float]:
        opt = self._optimizer
        return (opt.code, float(opt.lr), *opt.constants())

    def _matrix(
        self, X: np.ndarray, names: Names | None
    ) -> tuple[np.ndarray, tuple[Hashable, ...]]:
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ModelError(f"{self._name}: X must be 2-D, got shape {X.shape}")
        cols = tuple(range(X.shape[1])) if names is None else tuple(names)
        if len(cols) != X.shape[1]:
            raise ModelError(f"{self._name}: {len(cols)} names for {X.shape[1]} columns of X")
        return X, cols

    def _sample_weights(self, sample_weight: Any, n: int) -> np.ndarray:
        if sample_weight is None:
            return np.ones(n)
        w = np.ascontiguousarray(sample_weight, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ModelError(f"{self._name}: sample_weight must be {n} finite numbers >= 0")
        return w


def _grown(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` padded with zeros at the end of each axis up to ``shape``."""
    if a.shape == shape:
        return a
    out = np.zeros(shape, dtype=a.dtype)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


class _GLM(_Linear):
    """A linear model with one output: River's ``linear_model.base.GLM``."""

    _loss = kernels.SQUARED
    _gamma = 0.0

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
        if not (isinstance(clip_gradient, numbers.Real) and clip_gradient > 0):
            raise ModelError(f"{self._name}.clip_gradient: expected a number > 0")
        self.intercept_init: float = intercept_init
        self.clip_gradient: float = clip_gradient
        self._state: np.ndarray = np.array([float(intercept_init)])
        self.weights: np.ndarray = np.zeros(0)
        stateful = self._optimizer.code != kernels.SGD
        self._m: np.ndarray = np.zeros(0) if self._optimizer.code == kernels.ADAM else _EMPTY
        self._v: np.ndarray = np.zeros(0) if stateful else _EMPTY
        self._class_counts: np.ndarray = _EMPTY

    @property
    def intercept(self) -> float:
        """The intercept (bias)."""
        return float(self._state[0])

    def _fit_features(self, d: int) -> None:
        if d == len(self.weights):
            return
        self.weights = _grown(self.weights, (d,))
        if self._optimizer.code == kernels.ADAM:
            self._m = _grown(self._m, (d,))
        if self._optimizer.code != kernels.SGD:
            self._v = _grown(self._v, (d,))

    def _scores(
        self,
        X: np.ndarray,
        cols: np.ndarray,
        slots: np.ndarray,
        sparse: np.ndarray,
        ops: np.ndarray,
        rows: np.ndarray,
        targets: np.ndarray,
        sw: np.ndarray,
        n_predict: int,
    ) -> tuple[np.ndarray, int]:
        """The kernel's output rows (see :func:`~online_models.linear_kernels.glm_run`) and
        the number of predictions without an answer."""
        out = np.empty((n_predict, 1 if self._loss == kernels.SQUARED else 2))
        code, lr, b1, b2, eps = self._kernel_optimizer()
        unanswered = kernels.glm_run(
            X, cols, slots, sparse, ops, rows, targets, sw, out,
            self.weights, self._m, self._v, self._state, self._counters, self._class_counts,
            self._loss, float(self._gamma), code, lr, b1, b2, eps, float(self.l2),
            float(self.intercept_lr), float(self.clip_gradient), _MAX_CLASS_WEIGHT,
        )  # fmt: skip
        return out, unanswered


class LogisticRegression(_GLM):
    """Binary logistic regression learning one event at a time; River's ``LogisticRegression``.

    Labels are two classes, ``False``/``True`` or ``0``/``1``; predictions and :attr:`classes`
    keep the type of the first label learned (predictions made before it are River's
    booleans).

    Args:
        optimizer: ``"sgd"`` (River's default, ``SGD(0.01)``), ``"adam"``, ``"adagrad"``, or an
            :class:`~online_models.optimizers.Optimizer` instance.
        lr: learning rate of a named optimizer (None: its default: 0.01 SGD, 0.1 Adam/AdaGrad).
        l2: L2 penalty on the weights of an event's present features.
        intercept_init: initial intercept.
        intercept_lr: the intercept's constant learning rate (River's default 0.01).
        clip_gradient: bound on the absolute (weighted) loss gradient of each event.
        class_weight: ``"balanced"`` to weigh each event by its class's online inverse
            frequency, counted up to and including the event (the weights
            :class:`~online_models.imbalance.ClassWeights` gives one label at a time), or None.
        focal_gamma: focusing parameter of the focal loss ``-(1 - p_t)^gamma log(p_t)`` of Lin et
            al. 2017 (not River's FL* variant); 0 is River's log loss.

    >>> m = LogisticRegression(class_weight="balanced", focal_gamma=2.0)
    >>> m.learn(np.array([[1.0], [2.0]]), [True, False])
    >>> m.predict_proba(np.array([[1.0]])).shape, m.classes
    ((1, 2), [False, True])
    """

    _multiclass = False
    """Two classes only (River's marker of binary classifiers)."""

    _loss = kernels.LOG

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
        if class_weight not in (None, "balanced"):
            raise ModelError(
                f"LogisticRegression.class_weight: expected None or 'balanced', got "
                f"{class_weight!r}"
            )
        if not (isinstance(focal_gamma, numbers.Real) and 0 <= focal_gamma < math.inf):
            raise ModelError(f"LogisticRegression.focal_gamma: expected >= 0, got {focal_gamma!r}")
        self.class_weight = class_weight
        self.focal_gamma = focal_gamma
        self._gamma = float(focal_gamma)
        self._loss = kernels.FOCAL if focal_gamma > 0 else kernels.LOG
        self._class_counts = np.zeros(2) if class_weight == "balanced" else _EMPTY
        self._label_type: type | None = None
        self._kind_before_run: type | None = None

    @property
    def classes(self) -> list[Any]:
        """The columns of the probabilities: class 0 then class 1, in the labels' type."""
        kind = self._label_type or bool
        return [kind(0), kind(1)]

    def label_errors(self, ys: Sequence[Any]) -> list[str | None]:
        family = None if self._label_type is None else _family(self._label_type(0))
        errors: list[str | None] = []
        for y in ys:
            f = _family(y)
            if f not in ("bool", "number") or not (y == 0 or y == 1):
                errors.append(f"label {y!r}: expected one of two classes, False/True or 0/1")
            elif family is not None and f != family:
                errors.append(f"label {y!r}: a {f} label, but the labels before it are {family}s")
            else:
                family = f
                errors.append(None)
        return errors

    def predict_proba(self, X: np.ndarray, names: Names | None = None) -> np.ndarray:
        """Probabilities of :attr:`classes`, shape ``(n, 2)``."""
        X, _ = self._matrix(X, names)
        n = len(X)
        P = self.run(X, names, np.zeros(n, np.int8), np.arange(n), [])[1]
        assert P is not None
        return P

    def _targets(self, y: Sequence[Any] | np.ndarray) -> np.ndarray:
        self._kind_before_run = self._label_type
        if isinstance(y, np.ndarray) and y.dtype == np.bool_ and y.ndim == 1:
            t = y.astype(np.float64)
        else:
            try:
                t = np.array(y, dtype=np.float64)
            except (TypeError, ValueError):
                t = np.array([np.nan])
            if t.ndim != 1 or not np.all((t == 0.0) | (t == 1.0)):
                raise ModelError(f"{self._name}: labels must be False/True or 0/1")
        if self._label_type is None and len(t):
            first = _plain(y[0])
            self._label_type = bool if isinstance(first, bool) else type(first)
        return t

    def _run(self, *args: Any) -> Answers:
        untyped = self._kind_before_run is None
        P, unanswered = self._scores(*args)
        positive = P[:, 1] > 0.5
        kind = self._label_type or bool
        labels = positive.tolist() if kind is bool else positive.astype(kind).tolist()
        if untyped and kind is not bool:  # predicted before the first label: River's booleans
            ops = args[4]
            first = int(np.argmax(ops == 1))
            n_before = first - int(np.count_nonzero(ops[:first]))
            labels[:n_before] = positive[:n_before].tolist()
        if unanswered:
            answered = (P[:, 0] + P[:, 1] != 0.0).tolist()
            labels = [c if ok else None for c, ok in zip(labels, answered, strict=True)]
        return labels, P


class LinearRegression(_GLM):
    """Least-squares linear regression learning one event at a time; River's
    ``LinearRegression``.

    The loss is River's ``Squared``: ``(y_pred - y)^2``, gradient ``2 (y_pred - y)``.

    Args:
        optimizer: ``"sgd"``, ``"adam"``, ``"adagrad"``, or an optimizer instance.
        lr: learning rate of a named optimizer (None: its default).
        l2: L2 penalty on the weights of an event's present features.
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

    def label_errors(self, ys: Sequence[Any]) -> list[str | None]:
        return [
            None
            if isinstance(y, numbers.Real) and _family(y) == "number" and math.isfinite(y)
            else f"target {y!r}: expected a finite number"
            for y in ys
        ]

    def _targets(self, y: Sequence[Any] | np.ndarray) -> np.ndarray:
        try:
            t = np.array(y, dtype=np.float64)
        except (TypeError, ValueError):
            t = np.array([np.nan])
        if t.ndim != 1 or not np.all(np.isfinite(t)):
            raise ModelError(f"{self._name}: targets must be finite numbers")
        return t

    def _run(self, *args: Any) -> Answers:
        out, unanswered = self._scores(*args)
        preds = out[:, 0].tolist()
        if unanswered:
            preds = [v if math.isfinite(v) else None for v in preds]
        return preds, None


class SoftmaxRegression(_Linear):
    """Multinomial logistic regression learning one event at a time; classes appear as they
    are learned.

    With ``intercept_lr=0`` this is River's ``SoftmaxRegression`` (which has no intercept): a
    class is known from its first learned event on (before it, its probability is 0 and it is
    never predicted); each class has its own optimizer step count, as River keeps one optimizer
    per class. Sample weights (and balanced class weights) multiply each event's loss
    gradients, as in River's other linear models (River's softmax takes no weights).

    Args:
        optimizer: ``"sgd"``, ``"adam"``, ``"adagrad"``, or an optimizer instance.
        lr: learning rate of a named optimizer (None: its default).
        l2: L2 penalty on the weights of an event's present features.
        intercept_lr: the intercepts' constant learning rate (0: no intercepts, as in River).
        class_weight: ``"balanced"`` for online inverse-frequency event weights, or None.

    >>> m = SoftmaxRegression(lr=0.5)
    >>> for _ in range(30):
    ...     m.learn(np.eye(3), ["a", "b", "c"])
    >>> m.classes, m.predict(np.eye(3))
    (['a', 'b', 'c'], ['a', 'b', 'c'])
    """

    discovers_classes = True
    """Its classes grow as they are learned: a probability of 0 marks a class not known yet
    (a known class's probability is never exactly 0)."""

    def __init__(
        self,
        optimizer: str | Optimizer = "sgd",
        lr: float | None = None,
        l2: float = 0.0,
        intercept_lr: float = 0.01,
        class_weight: str | None = None,
    ) -> None:
        super().__init__(optimizer, lr, l2, intercept_lr)
        if class_weight not in (None, "balanced"):
            raise ModelError(
                f"SoftmaxRegression.class_weight: expected None or 'balanced', got {class_weight!r}"
            )
        self.class_weight = class_weight
        self.classes: list[Hashable] = []
        self._class_pos: dict[Hashable, int] = {}
        self.weights: np.ndarray = np.zeros((0, 0))
        self.intercepts: np.ndarray = np.zeros(0)
        self._m: np.ndarray = np.zeros((0, 0))
        self._v: np.ndarray = np.zeros((0, 0))
        self._steps: np.ndarray = np.zeros(0, dtype=np.int64)
        self._class_counts: np.ndarray = np.zeros(0) if class_weight == "balanced" else _EMPTY

    def label_errors(self, ys: Sequence[Any]) -> list[str | None]:
        family = _family(self.classes[0]) if self.classes else None
        errors: list[str | None] = []
        for y in ys:
            try:
                hash(y)
            except TypeError:
                errors.append(f"label {y!r}: a class label must be hashable")
                continue
            f = _family(y)
            if y is None or (f == "number" and not math.isfinite(y)):
                errors.append(f"label {y!r}: not a class label")
            elif family is not None and f != family:
                errors.append(f"label {y!r}: a {f} label, but the labels before it are {family}s")
            else:
                family = f
                errors.append(None)
        return errors

    def predict_proba(self, X: np.ndarray, names: Names | None = None) -> np.ndarray:
        """Probabilities of :attr:`classes`, shape ``(n, n_classes)``."""
        X, _ = self._matrix(X, names)
        n = len(X)
        P = self.run(X, names, np.zeros(n, np.int8), np.arange(n), [])[1]
        assert P is not None
        return P

    def _targets(self, y: Sequence[Any] | np.ndarray) -> np.ndarray:
        labels = y.tolist() if isinstance(y, np.ndarray) else y
        pos = self._class_pos
        new: dict[Hashable, int] = {}
        t = np.empty(len(labels), dtype=np.int64)
        try:
            for i, label in enumerate(labels):
                c = pos.get(label)
                if c is None:
                    c = new.setdefault(_plain(label), len(pos) + len(new))
                t[i] = c
        except TypeError:
            raise ModelError(f"{self._name}: class labels must be hashable") from None
        for label, c in new.items():
            pos[label] = c
            self.classes.append(label)
        self._fit(len(self.classes), self.weights.shape[1])
        return t

    def _fit_features(self, d: int) -> None:
        self._fit(len(self.classes), d)

    def _fit(self, k: int, d: int) -> None:
        if self.weights.shape == (k, d):
            return
        self.weights = _grown(self.weights, (k, d))
        self.intercepts = _grown(self.intercepts, (k,))
        self._steps = _grown(self._steps, (k,))
        code = self._optimizer.code  # unused state: one empty row per class
        self._m = _grown(self._m, (k, d if code == kernels.ADAM else 0))
        self._v = _grown(self._v, (k, d if code != kernels.SGD else 0))
        if self.class_weight == "balanced":
            self._class_counts = _grown(self._class_counts, (k,))

    def _run(
        self,
        X: np.ndarray,
        cols: np.ndarray,
        slots: np.ndarray,
        sparse: np.ndarray,
        ops: np.ndarray,
        rows: np.ndarray,
        targets: np.ndarray,
        sw: np.ndarray,
        n_predict: int,
    ) -> Answers:
        P = np.empty((n_predict, len(self.classes)))
        best = np.empty(n_predict, dtype=np.int64)
        code, lr, b1, b2, eps = self._kernel_optimizer()
        kernels.softmax_run(
            X, cols, slots, sparse, ops, rows, targets, sw, P, best,
            self.weights, self._m, self._v, self.intercepts, self._steps, self._counters,
            self._class_counts, code, lr, b1, b2, eps, float(self.l2), float(self.intercept_lr),
            _MAX_CLASS_WEIGHT,
        )  # fmt: skip
        classes = self.classes
        return [classes[c] if c >= 0 else None for c in best.tolist()], P
