"""Compiled per-event loops of the linear learners: predict and learn interleaved, in op order.

Each kernel walks an op sequence in stream order: op 0 predicts row ``rows[i]`` of ``X`` with
the current weights, op 1 learns that row with the next target, one event at a time, with
River's update rules (``linear_model.base.GLM.learn_one``, ``SoftmaxRegression.learn_one``
and ``optim.SGD``/``Adam``/``AdaGrad`` on dicts, in the same order of operations):

* a feature takes part in an event when it is present: a dense column always, a sparse column
  (one-hot, hashed) only where its value is not 0, as River's models see the dicts of
  ``FeatureBlock.dicts()``, and no column where the value is NaN (the padding of a row that
  comes from a layout without that column); an absent feature's weight and optimizer state are
  left alone, and L2 only acts on the present features;
* Adam's bias correction counts the model's optimizer steps (one per learned event; one
  optimizer per class in the softmax regression, as River keeps one per class);
* the model's state lives in arrays owned by the caller and updated in place, so the kernels
  keep nothing between calls and the caller pickles plain arrays.

A learned event whose update would leave any weight, intercept or optimizer state non-finite
(a feature of 1e200, say) is skipped whole: nothing changes but ``counters[1]`` (the skipped
count); the class counts of balanced class weights still count its label. A prediction whose
raw score is not finite is NaN (GLM) or class -1 with a zero row (softmax).

Features are summed in the order of ``cols`` (the caller sorts them by feature name), so an
event's result does not depend on the column layout of the batch it came in.

>>> import numpy as np
>>> X = np.array([[1.0]]); w = np.zeros(1); state = np.zeros(1); counters = np.zeros(2, np.int64)
>>> out = np.empty((1, 2))
>>> glm_run(X, np.array([0]), np.array([0]), np.array([False]), np.array([1, 0], np.int8),
...         np.array([0, 0]), np.array([1.0]), np.ones(1), out, w, np.empty(0), np.empty(0),
...         state, counters, np.empty(0), LOG, 0.0, SGD, 0.5, 0.9, 0.999, 1e-8, 0.0, 0.0, 1e12,
...         100.0)
0
>>> round(float(w[0]), 4), round(float(out[0, 1]), 4), int(counters[0])
(0.25, 0.5622, 1)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

__all__ = [
    "ADAGRAD",
    "ADAM",
    "FOCAL",
    "LOG",
    "SGD",
    "SQUARED",
    "count_learn_ops",
    "glm_run",
    "softmax_run",
]

# Optimizers.
SGD, ADAM, ADAGRAD = 0, 1, 2
# Losses of the one-output models.
LOG, FOCAL, SQUARED = 0, 1, 2


@njit(cache=True)
def count_learn_ops(ops: np.ndarray, rows: np.ndarray, n_rows: int) -> int:
    """The number of learn ops, or -1 if an op is not 0/1, -2 if a row is out of range."""
    n = 0
    for i in range(ops.shape[0]):
        if ops[i] != 0 and ops[i] != 1:
            return -1
        if rows[i] < 0 or rows[i] >= n_rows:
            return -2
        n += ops[i]
    return n


@njit(cache=True, inline="always")
def _absent(xv: float, sparse: bool) -> bool:
    """Whether a value stands for an absent feature: NaN, or 0 in a sparse column."""
    return xv != xv or (sparse and xv == 0.0)


@njit(cache=True, inline="always")
def _river_sigmoid(z: float) -> float:
    """River's ``utils.math.sigmoid``: exactly 0 below -30 and 1 above 30."""
    if z < -30.0:
        return 0.0
    if z > 30.0:
        return 1.0
    return 1.0 / (1.0 + math.exp(-z))


@njit(cache=True, inline="always")
def _stable_sigmoid(a: float) -> float:
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@njit(cache=True, inline="always")
def _loss_gradient(loss: int, gamma: float, y: float, z: float) -> float:
    """d loss / d z for target ``y`` (0/1 for the binary losses) and raw score ``z``."""
    if loss == SQUARED:
        return 2.0 * (z - y)
    s = 1.0 if y == 1.0 else -1.0
    a = s * z
    if loss == LOG:  # River's optim.losses.Log, branch for branch
        if a > 18.0:
            return math.exp(-a) * -s
        if a < -18.0:
            return -s
        return -s / (math.exp(a) + 1.0)
    # Focal loss -(1 - p_t)^gamma log(p_t), p_t = sigmoid(a) (Lin et al. 2017).
    q = _stable_sigmoid(-a)
    p_t = _stable_sigmoid(a)
    log_pt = -(max(-a, 0.0) + math.log1p(math.exp(-abs(a))))
    return s * q**gamma * (gamma * p_t * log_pt - q)


@njit(cache=True, inline="always")
def _adam_rate(lr: float, b1: float, b2: float, t: int) -> float:
    """Adam's step size with both bias corrections at step ``t`` (0-based), as River."""
    rate = lr * (1.0 - b2 ** float(t + 1)) ** 0.5
    return rate / (1.0 - b1 ** float(t + 1))


@njit(cache=True, inline="always")
def _class_weight(counts: np.ndarray, c: int, max_weight: float) -> float:
    """Count class ``c``, then its balanced weight ``n / (k n_c)`` (``ClassWeights``)."""
    counts[c] += 1.0
    n = 0.0
    k = 0
    for j in range(counts.shape[0]):
        if counts[j] > 0.0:
            n += counts[j]
            k += 1
    return min(n / (k * counts[c]), max_weight)


@njit(cache=True, inline="always")
def _gather(
    X: np.ndarray,
    r: int,
    cols: np.ndarray,
    slots: np.ndarray,
    sparse: np.ndarray,
    idx: np.ndarray,
    val: np.ndarray,
) -> int:
    """The present features of row ``r``: weight positions into ``idx``, values into ``val``,
    in the order of ``cols``; returns how many."""
    n = 0
    for k in range(cols.shape[0]):  # branch-free: one-hot columns would mispredict
        xv = X[r, cols[k]]
        idx[n] = slots[k]
        val[n] = xv
        n += not _absent(xv, sparse[k])
    return n


@njit(cache=True, inline="always")
def _sgd_step(
    idx: np.ndarray, val: np.ndarray, n: int, lg: float, l2: float, rate: float,
    w: np.ndarray, old_w: np.ndarray,
) -> bool:  # fmt: skip
    """SGD on the ``n`` present features, gradient ``x lg + l2 w``, in place, keeping the old
    weights for :func:`_restore`; False if a new weight is not finite."""
    ok = True
    for k in range(n):
        j = idx[k]
        wj = w[j]
        old_w[k] = wj
        wj -= rate * (val[k] * lg + l2 * wj)
        w[j] = wj
        ok &= math.isfinite(wj)
    return ok


@njit(cache=True, inline="always")
def _adam_step(
    idx: np.ndarray, val: np.ndarray, n: int, lg: float, l2: float, rate: float,
    b1: float, b2: float, eps: float, w: np.ndarray, m: np.ndarray, v: np.ndarray,
    old_w: np.ndarray, old_m: np.ndarray, old_v: np.ndarray,
) -> bool:  # fmt: skip
    """Adam (``rate`` has the bias corrections), like :func:`_sgd_step`."""
    ok = True
    for k in range(n):
        j = idx[k]
        wj = w[j]
        old_w[k] = wj
        old_m[k] = m[j]
        old_v[k] = v[j]
        g = val[k] * lg + l2 * wj
        mj = b1 * m[j] + (1.0 - b1) * g
        vj = b2 * v[j] + (1.0 - b2) * g * g
        m[j] = mj
        v[j] = vj
        wj -= rate * mj / (vj**0.5 + eps)
        w[j] = wj
        ok &= math.isfinite(wj) & math.isfinite(mj) & math.isfinite(vj)
    return ok


@njit(cache=True, inline="always")
def _adagrad_step(
    idx: np.ndarray, val: np.ndarray, n: int, lg: float, l2: float, rate: float, eps: float,
    w: np.ndarray, v: np.ndarray, old_w: np.ndarray, old_v: np.ndarray,
) -> bool:  # fmt: skip
    """AdaGrad, like :func:`_sgd_step`."""
    ok = True
    for k in range(n):
        j = idx[k]
        wj = w[j]
        old_w[k] = wj
        old_v[k] = v[j]
        g = val[k] * lg + l2 * wj
        vj = v[j] + g * g
        v[j] = vj
        wj -= rate / (vj + eps) ** 0.5 * g
        w[j] = wj
        ok &= math.isfinite(wj) & math.isfinite(vj)
    return ok


@njit(cache=True, inline="always")
def _step(
    opt: int, idx: np.ndarray, val: np.ndarray, n: int, lg: float, l2: float, rate: float,
    b1: float, b2: float, eps: float, w: np.ndarray, m: np.ndarray, v: np.ndarray,
    old_w: np.ndarray, old_m: np.ndarray, old_v: np.ndarray,
) -> bool:  # fmt: skip
    """One step of optimizer ``opt``: one loop per optimizer, no branch inside a loop."""
    if opt == SGD:
        return _sgd_step(idx, val, n, lg, l2, rate, w, old_w)
    if opt == ADAM:
        return _adam_step(idx, val, n, lg, l2, rate, b1, b2, eps, w, m, v, old_w, old_m, old_v)
    return _adagrad_step(idx, val, n, lg, l2, rate, eps, w, v, old_w, old_v)


@njit(cache=True, inline="always")
def _restore(
    opt: int,
    idx: np.ndarray,
    n: int,
    w: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    old_w: np.ndarray,
    old_m: np.ndarray,
    old_v: np.ndarray,
) -> None:
    """Undo :func:`_step`."""
    for k in range(n):
        w[idx[k]] = old_w[k]
        if opt == ADAM:
            m[idx[k]] = old_m[k]
        if opt != SGD:
            v[idx[k]] = old_v[k]


@njit(cache=True, inline="always")
def _glm_loop(
    X: np.ndarray,
    cols: np.ndarray,
    slots: np.ndarray,
    sparse: np.ndarray,
    ops: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    sw: np.ndarray,
    out: np.ndarray,
    w: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    state: np.ndarray,
    counters: np.ndarray,
    class_counts: np.ndarray,
    loss: int,
    gamma: float,
    opt: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
    l2: float,
    intercept_lr: float,
    clip: float,
    max_class_weight: float,
) -> int:
    """The loop of :func:`glm_run`."""
    nc = cols.shape[0]
    idx = np.empty(nc, dtype=np.int64)  # the present features of the current row
    val = np.empty(nc)
    old_w = np.empty(nc)
    old_m = np.empty(nc)
    old_v = np.empty(nc)
    weigh_classes = class_counts.shape[0] > 0
    n_out = 0
    n_learn = 0
    n_present = 0
    unanswered = 0
    row = -1  # the row gathered in idx/val
    z_fresh = False  # z is the current row's score with the current weights
    z = 0.0
    for i in range(ops.shape[0]):
        if rows[i] != row:
            row = rows[i]
            n_present = _gather(X, row, cols, slots, sparse, idx, val)
            z_fresh = False
        if not z_fresh:
            z = 0.0
            for k in range(n_present):
                z += w[idx[k]] * val[k]
            z += state[0]
            z_fresh = True
        if ops[i] == 0:
            if loss == SQUARED:
                out[n_out, 0] = z
                unanswered += not math.isfinite(z)
            elif z != z:
                out[n_out, 0] = 0.0
                out[n_out, 1] = 0.0
                unanswered += 1
            else:
                p = _river_sigmoid(z)
                out[n_out, 0] = 1.0 - p
                out[n_out, 1] = p
            n_out += 1
            continue
        target = y[n_learn]
        weight = sw[n_learn]
        n_learn += 1
        if weigh_classes:
            weight *= _class_weight(class_counts, 1 if target == 1.0 else 0, max_class_weight)
        lg = _loss_gradient(loss, gamma, target, z) * weight
        lg = max(min(lg, clip), -clip)
        intercept = state[0] - intercept_lr * lg
        ok = math.isfinite(lg) and math.isfinite(intercept)
        rate = _adam_rate(lr, b1, b2, counters[0]) if opt == ADAM else lr
        ok &= _step(
            opt, idx, val, n_present, lg, l2, rate, b1, b2, eps, w, m, v, old_w, old_m, old_v
        )
        if not ok:
            _restore(opt, idx, n_present, w, m, v, old_w, old_m, old_v)
            counters[1] += 1
            continue
        state[0] = intercept
        counters[0] += 1
        z_fresh = False
    return unanswered


@njit(cache=True, inline="always")
def _softmax_scores(
    idx: np.ndarray,
    val: np.ndarray,
    n_present: int,
    W: np.ndarray,
    b: np.ndarray,
    n_known: int,
    p: np.ndarray,
) -> bool:
    """River's softmax over the known classes into ``p[:n_known]``; False if not finite."""
    for c in range(n_known):
        z = 0.0
        for k in range(n_present):
            z += W[c, idx[k]] * val[k]
        p[c] = z + b[c]
    if n_known == 0:
        return True
    top = p[0]
    for c in range(1, n_known):
        top = max(top, p[c])
    total = 0.0
    for c in range(n_known):
        p[c] = math.exp(p[c] - top)
        total += p[c]
    for c in range(n_known):
        p[c] /= total
    return math.isfinite(total) and math.isfinite(top)


@njit(cache=True, inline="always")
def _softmax_loop(
    X: np.ndarray,
    cols: np.ndarray,
    slots: np.ndarray,
    sparse: np.ndarray,
    ops: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    sw: np.ndarray,
    P: np.ndarray,
    best: np.ndarray,
    W: np.ndarray,
    M: np.ndarray,
    V: np.ndarray,
    b: np.ndarray,
    steps: np.ndarray,
    counters: np.ndarray,
    class_counts: np.ndarray,
    opt: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
    l2: float,
    intercept_lr: float,
    max_class_weight: float,
) -> None:
    """The loop of :func:`softmax_run`."""
    nc = cols.shape[0]
    n_classes = W.shape[0]
    idx = np.empty(nc, dtype=np.int64)  # the present features of the current row
    val = np.empty(nc)
    p = np.empty(n_classes)
    old_b = np.empty(n_classes)
    old_w = np.empty((n_classes, nc))
    old_m = np.empty((n_classes, nc))
    old_v = np.empty((n_classes, nc))
    weigh_classes = class_counts.shape[0] > 0
    n_out = 0
    n_learn = 0
    n_present = 0
    row = -1  # the row gathered in idx/val
    p_fresh = False  # p holds the current row's probabilities with the current weights
    finite = True
    for i in range(ops.shape[0]):
        if rows[i] != row:
            row = rows[i]
            n_present = _gather(X, row, cols, slots, sparse, idx, val)
            p_fresh = False
        n_known = counters[0]
        if not p_fresh:
            finite = _softmax_scores(idx, val, n_present, W, b, n_known, p)
            p_fresh = True
        if ops[i] == 0:
            if n_known == 0 or not finite:
                best[n_out] = -1
                for c in range(n_classes):
                    P[n_out, c] = 0.0
            else:
                top = 0
                for c in range(n_classes):
                    P[n_out, c] = p[c] if c < n_known else 0.0
                    if c < n_known and p[c] > p[top]:
                        top = c
                best[n_out] = top
            n_out += 1
            continue
        cy = y[n_learn]
        weight = sw[n_learn]
        n_learn += 1
        if cy >= n_known:  # first time this class is learned: it is known from now on
            counters[0] = cy + 1
        n_now = counters[0]
        p_fresh = False
        if weigh_classes:
            weight *= _class_weight(class_counts, cy, max_class_weight)
        ok = finite
        # In place, keeping the old values to put back if anything came out non-finite.
        for c in range(n_now):
            pc = p[c] if c < n_known else 0.0
            lg = max(min(pc, 1.0 - 1e-15), 1e-15)  # River's clamp_proba
            if c == cy:
                lg -= 1.0
            lg *= weight
            old_b[c] = b[c]
            b[c] -= intercept_lr * lg
            ok &= math.isfinite(lg) & math.isfinite(b[c])
            rate = _adam_rate(lr, b1, b2, steps[c]) if opt == ADAM else lr
            ok &= _step(
                opt, idx, val, n_present, lg, l2, rate, b1, b2, eps,
                W[c], M[c], V[c], old_w[c], old_m[c], old_v[c],
            )  # fmt: skip
        if not ok:
            for c in range(n_now):
                b[c] = old_b[c]
                _restore(opt, idx, n_present, W[c], M[c], V[c], old_w[c], old_m[c], old_v[c])
            counters[1] += 1
            continue
        for c in range(n_now):
            steps[c] += 1


def _glm_kernel(opt: int, loss: int) -> Any:
    """The GLM loop compiled for one optimizer and one loss (their branches folded away)."""

    @njit(cache=True)
    def run(X, cols, slots, sparse, ops, rows, y, sw, out, w, m, v, state, counters,
            class_counts, gamma, lr, b1, b2, eps, l2, intercept_lr, clip, max_class_weight):  # type: ignore[no-untyped-def]  # fmt: skip
        return _glm_loop(
            X, cols, slots, sparse, ops, rows, y, sw, out, w, m, v, state, counters,
            class_counts, loss, gamma, opt, lr, b1, b2, eps, l2, intercept_lr, clip,
            max_class_weight,
        )  # fmt: skip

    return run


def _softmax_kernel(opt: int) -> Any:
    """The softmax loop compiled for one optimizer."""

    @njit(cache=True)
    def run(X, cols, slots, sparse, ops, rows, y, sw, P, best, W, M, V, b, steps, counters,
            class_counts, lr, b1, b2, eps, l2, intercept_lr, max_class_weight):  # type: ignore[no-untyped-def]  # fmt: skip
        _softmax_loop(
            X, cols, slots, sparse, ops, rows, y, sw, P, best, W, M, V, b, steps, counters,
            class_counts, opt, lr, b1, b2, eps, l2, intercept_lr, max_class_weight,
        )  # fmt: skip

    return run


# Compiled (or loaded from the cache) on first use, each for itself.
_GLM = {(o, lo): _glm_kernel(o, lo) for o in (SGD, ADAM, ADAGRAD) for lo in (LOG, FOCAL, SQUARED)}
_SOFTMAX = {o: _softmax_kernel(o) for o in (SGD, ADAM, ADAGRAD)}


def glm_run(
    X: np.ndarray,
    cols: np.ndarray,
    slots: np.ndarray,
    sparse: np.ndarray,
    ops: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    sw: np.ndarray,
    out: np.ndarray,
    w: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    state: np.ndarray,
    counters: np.ndarray,
    class_counts: np.ndarray,
    loss: int,
    gamma: float,
    opt: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
    l2: float,
    intercept_lr: float,
    clip: float,
    max_class_weight: float,
) -> int:
    """Run ``ops`` on a one-output linear model (logistic or linear regression); returns the
    number of predictions without an answer (a non-finite score).

    Args:
        X: the rows, ``(n_rows, n_columns)``.
        cols: the columns of ``X`` that take part, in the order of the sums.
        slots: the weight position of each of ``cols``.
        sparse: per entry of ``cols``, whether its 0 means "absent".
        ops: 0 predict, 1 learn, in stream order.
        rows: the row of ``X`` of each op.
        y: one target per learn op (0/1 for the binary losses).
        sw: one sample weight per learn op.
        out: filled with one row per predict op: the probabilities of classes 0 and 1
            (binary losses, River's sigmoid; a zero row when the score is NaN), or the
            prediction in column 0 (squared loss).
        w: the weights, by position.
        m: Adam's first moments (unused otherwise).
        v: Adam's second moments, or AdaGrad's sums of squares (unused for SGD).
        state: ``[intercept]``.
        counters: ``[optimizer steps, skipped learn ops]``.
        class_counts: counts of classes 0 and 1 for balanced class weights (empty: none).
        loss: :data:`LOG`, :data:`FOCAL` or :data:`SQUARED`.
        gamma: the focal loss's focusing parameter.
        opt: :data:`SGD`, :data:`ADAM` or :data:`ADAGRAD`.
        lr: the optimizer's learning rate.
        b1: Adam's first-moment decay.
        b2: Adam's second-moment decay.
        eps: Adam's and AdaGrad's epsilon.
        l2: the L2 penalty on the weights of the present features.
        intercept_lr: the intercept's learning rate.
        clip: bound on the absolute weighted loss gradient.
        max_class_weight: the cap of a balanced class weight.
    """
    return int(
        _GLM[opt, loss](
            X, cols, slots, sparse, ops, rows, y, sw, out, w, m, v, state, counters,
            class_counts, gamma, lr, b1, b2, eps, l2, intercept_lr, clip, max_class_weight,
        )  # fmt: skip
    )


def softmax_run(
    X: np.ndarray,
    cols: np.ndarray,
    slots: np.ndarray,
    sparse: np.ndarray,
    ops: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    sw: np.ndarray,
    P: np.ndarray,
    best: np.ndarray,
    W: np.ndarray,
    M: np.ndarray,
    V: np.ndarray,
    b: np.ndarray,
    steps: np.ndarray,
    counters: np.ndarray,
    class_counts: np.ndarray,
    opt: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
    l2: float,
    intercept_lr: float,
    max_class_weight: float,
) -> None:
    """Run ``ops`` on a softmax regression whose classes appear as they are learned.

    Classes are numbered in the order they are first learned: the learn op of class ``c`` when
    ``c`` classes are known makes it known (River creates a class's weights when it learns it),
    so predict ops before it give it probability 0.

    Args:
        X: the rows, ``(n_rows, n_columns)``.
        cols: the columns of ``X`` that take part, in the order of the sums.
        slots: the weight position of each of ``cols``.
        sparse: per entry of ``cols``, whether its 0 means "absent".
        ops: 0 predict, 1 learn, in stream order.
        rows: the row of ``X`` of each op.
        y: the class number of each learn op.
        sw: one sample weight per learn op.
        P: filled with one row of class probabilities per predict op (0 for unknown classes).
        best: filled with the most probable class of each predict op (the first on ties;
            -1 when no class is known or the scores are not finite, with a zero row of ``P``).
        W: the weights, ``(n_classes, n_features)``.
        M: Adam's first moments (an empty row per class otherwise).
        V: Adam's second moments, or AdaGrad's sums of squares (empty rows for SGD).
        b: the intercepts.
        steps: each class's optimizer steps.
        counters: ``[known classes, skipped learn ops]``.
        class_counts: class counts for balanced class weights (empty: none).
        opt: :data:`SGD`, :data:`ADAM` or :data:`ADAGRAD`.
        lr: the optimizer's learning rate.
        b1: Adam's first-moment decay.
        b2: Adam's second-moment decay.
        eps: Adam's and AdaGrad's epsilon.
        l2: the L2 penalty on the weights of the present features.
        intercept_lr: the intercepts' learning rate (0: no intercepts, as River).
        max_class_weight: the cap of a balanced class weight.
    """
    _SOFTMAX[opt](
        X, cols, slots, sparse, ops, rows, y, sw, P, best, W, M, V, b, steps, counters,
        class_counts, lr, b1, b2, eps, l2, intercept_lr, max_class_weight,
    )  # fmt: skip
