"""Streams, op sequences and per-event oracles for the compiled linear learners' tests.

A stream is a feature matrix with dense columns (one of them with exact zeros, one that
appears late: NaN before), one-hot columns (sparse; one level appears late) and labels. An op
sequence interleaves the events' predictions with their labels, each label learned some ops
after its event. The oracles see each event as the dict a River model gets
(``FeatureBlock.dicts()``: sparse zeros and NaN padding left out) and predict then learn one
op at a time: River's own models, or plain-Python ones where River has no such option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from river import linear_model, optim

from online_models.imbalance import ClassWeights


@dataclass
class Stream:
    X: np.ndarray
    names: list[str]
    sparse: list[bool]
    y: list


def make_stream(n: int, task: str, seed: int = 0) -> Stream:
    """``task``: "binary" (0/1 ints), "bool", "regression" or "multiclass" (a late class)."""
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, 5)) * np.array([1.0, 2.0, 0.5, 3.0, 1.0])
    dense[rng.random(n) < 0.3, 2] = 0.0  # a dense column's zeros are present
    late = rng.normal(size=n)
    late[: n // 3] = np.nan  # a dense column that appears at event n/3
    level = rng.integers(0, 4, size=n)
    level[n // 2 :][rng.random(n - n // 2) < 0.25] = 4  # a category first seen at n/2
    onehot = np.eye(5)[level]
    X = np.column_stack([dense, late, onehot])
    names = [f"d{j}" for j in range(5)] + ["late"] + [f"cat={j}" for j in range(5)]
    sparse = [False] * 6 + [True] * 5
    score = dense @ np.array([0.8, -0.5, 1.5, 0.3, -1.0]) + np.nan_to_num(late) + level - 2
    noise = rng.normal(size=n)
    if task == "regression":
        y: list = (10.0 + 3.0 * score + noise).tolist()
    elif task == "multiclass":
        cls = np.digitize(score + noise, [-1.5, 0.0, 1.5])
        cls[: n // 2][cls[: n // 2] == 3] = 2  # class "d" appears late
        y = [["a", "b", "c", "d"][c] for c in cls.tolist()]
    else:
        y = (score + noise > 0.8).astype(int).tolist()
        if task == "bool":
            y = [bool(v) for v in y]
    return Stream(X, names, sparse, y)


def as_dict(row: np.ndarray, names: list[str], sparse: list[bool]) -> dict[str, float]:
    """The event as River's models get it."""
    return {
        n: v
        for n, v, s in zip(names, row.tolist(), sparse, strict=True)
        if not math.isnan(v) and not (s and v == 0.0)
    }


def make_ops(n: int, max_delay: int, seed: int, learn_share: float = 1.0):
    """``[(kind, event)]``: every event predicted in order; its label (for a share of them)
    learned after up to ``max_delay`` later predictions (0: right after its own)."""
    rng = np.random.default_rng(seed)
    due: dict[int, list[int]] = {}
    ops = []
    for i in range(n):
        ops.append((0, i))
        if rng.random() < learn_share:
            due.setdefault(i + int(rng.integers(0, max_delay + 1)), []).append(i)
        for j in due.pop(i, []):
            ops.append((1, j))
    for t in sorted(due):
        ops.extend((1, j) for j in due[t])
    return ops


def run_ours(model, stream: Stream, ops, batch: int, sw=None, shuffle_columns: bool = True):
    """Our model over ``ops`` cut into calls of ``batch`` ops, each call with the rows it needs
    (a different column order per call when ``shuffle_columns``). Returns (preds, P rows)."""
    preds, probas = [], []
    n_learn = 0
    for c, s in enumerate(range(0, len(ops), batch)):
        chunk = ops[s : s + batch]
        needed = sorted({i for _, i in chunk})
        where = {i: r for r, i in enumerate(needed)}
        perm = np.random.default_rng(c).permutation(len(stream.names))
        if not shuffle_columns:
            perm = np.arange(len(stream.names))
        X = stream.X[needed][:, perm]
        learned = [i for k, i in chunk if k == 1]
        w = None if sw is None else sw[n_learn : n_learn + len(learned)]
        n_learn += len(learned)
        p, P = model.run(
            X,
            [stream.names[j] for j in perm],
            [k for k, _ in chunk],
            [where[i] for _, i in chunk],
            [stream.y[i] for i in learned],
            sample_weight=w,
            sparse=[stream.sparse[j] for j in perm],
        )
        preds.extend(p)
        if P is not None:
            probas.extend([dict(zip(model.classes, row, strict=True)) for row in P.tolist()])
    return preds, pad(probas, model)


def pad(probas: list[dict], model) -> list[dict]:
    """Probability rows over the model's final classes (0 for a class not known then)."""
    if not probas:
        return probas
    return [{c: row.get(c, 0.0) for c in model.classes} for row in probas]


def class_weight_sequence(ops, y) -> list[float]:
    """The balanced weight of each learn op's label, one label at a time (ClassWeights)."""
    cw = ClassWeights()
    return [float(cw.update([y[i]])[0]) for k, i in ops if k == 1]


def run_oracle(oracle, stream: Stream, ops, weights=None, proba: bool = True):
    """A per-event model (River's or a plain one) over ``ops``: predict_proba_one /
    predict_one, learn_one(x, y[, w])."""
    dicts = [as_dict(row, stream.names, stream.sparse) for row in stream.X]
    preds, probas = [], []
    n_learn = 0
    for kind, i in ops:
        x = dicts[i]
        if kind == 0:
            if proba:
                p = oracle.predict_proba_one(x)
                probas.append(p)
                preds.append(max(p, key=p.get) if p else None)
            else:
                preds.append(oracle.predict_one(x))
        elif weights is None:
            oracle.learn_one(x, stream.y[i])
        else:
            oracle.learn_one(x, stream.y[i], w=weights[n_learn])
            n_learn += 1
    return preds, probas


def river_optimizer(name: str, lr: float | None):
    cls = {"sgd": optim.SGD, "adam": optim.Adam, "adagrad": optim.AdaGrad}[name]
    return cls() if lr is None else cls(lr)


def river_glm(kind: str, opt: str, lr: float | None, **settings):
    cls = linear_model.LogisticRegression if kind == "logistic" else linear_model.LinearRegression
    return cls(optimizer=river_optimizer(opt, lr), **settings)


class PlainGLM:
    """A plain-Python per-event logistic regression with the focal loss (and the log loss at
    gamma 0), written from the definitions, not from the kernels: River's GLM step (weighted,
    clipped loss gradient; intercept step; L2 and the optimizer on the present features)."""

    def __init__(self, gamma, opt, lr, l2=0.0, intercept_init=0.0, intercept_lr=0.01,
                 clip_gradient=1e12, beta_1=0.9, beta_2=0.999, eps=1e-8):  # fmt: skip
        self.gamma, self.opt, self.l2 = gamma, opt, l2
        self.lr = lr if lr is not None else (0.01 if opt == "sgd" else 0.1)
        self.b, self.intercept_lr, self.clip = intercept_init, intercept_lr, clip_gradient
        self.b1, self.b2, self.eps = beta_1, beta_2, eps
        self.w: dict = {}
        self.m: dict = {}
        self.v: dict = {}
        self.t = 0

    def _raw(self, x):
        return sum(self.w.get(k, 0.0) * v for k, v in x.items()) + self.b

    def predict_proba_one(self, x):
        z = self._raw(x)
        p = 0.0 if z < -30 else 1.0 if z > 30 else 1.0 / (1.0 + math.exp(-z))
        return {0: 1.0 - p, 1: p}

    def _gradient(self, y, z):
        """d/dz of -(1 - p_t)^gamma log p_t by the chain rule through p_t."""
        s = 1.0 if y == 1 else -1.0
        p_t = 1.0 / (1.0 + math.exp(-s * z))
        g = self.gamma
        dl_dpt = -g * (1.0 - p_t) ** (g - 1.0) * -math.log(p_t) - (1.0 - p_t) ** g / p_t
        return dl_dpt * s * p_t * (1.0 - p_t)

    def learn_one(self, x, y, w=1.0):
        lg = self._gradient(y, self._raw(x)) * w
        lg = max(min(lg, self.clip), -self.clip)
        self.b -= self.intercept_lr * lg
        rate = self.lr
        if self.opt == "adam":
            rate = self.lr * (1 - self.b2 ** (self.t + 1)) ** 0.5 / (1 - self.b1 ** (self.t + 1))
        for k, xv in x.items():
            g = xv * lg + self.l2 * self.w.get(k, 0.0)
            self._step(k, g, rate)
        self.t += 1

    def _step(self, k, g, rate):
        w = self.w.get(k, 0.0)
        if self.opt == "sgd":
            self.w[k] = w - rate * g
        elif self.opt == "adam":
            self.m[k] = self.b1 * self.m.get(k, 0.0) + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v.get(k, 0.0) + (1 - self.b2) * g**2
            self.w[k] = w - rate * self.m[k] / (self.v[k] ** 0.5 + self.eps)
        else:
            self.v[k] = self.v.get(k, 0.0) + g**2
            self.w[k] = w - self.lr / (self.v[k] + self.eps) ** 0.5 * g


class PlainSoftmax:
    """A plain-Python per-event softmax regression with intercepts and event weights (River's
    SoftmaxRegression has neither): River's step otherwise (CrossEntropy with clamped
    probabilities, one optimizer per class created at the class's first label)."""

    def __init__(self, opt, lr, l2=0.0, intercept_lr=0.0):
        self.opt, self.l2, self.intercept_lr = opt, l2, intercept_lr
        self.lr = lr if lr is not None else (0.01 if opt == "sgd" else 0.1)
        self.w: dict = {}  # class -> {feature: weight}, in the order classes are learned
        self.b: dict = {}
        self.state: dict = {}  # class -> PlainGLM used only for its optimizer step
        self.t: dict = {}

    def predict_proba_one(self, x):
        if not self.w:
            return {}
        z = {c: sum(w.get(k, 0.0) * v for k, v in x.items()) + self.b[c]
             for c, w in self.w.items()}  # fmt: skip
        top = max(z.values())
        e = {c: math.exp(v - top) for c, v in z.items()}
        total = sum(e.values())
        return {c: v / total for c, v in e.items()}

    def learn_one(self, x, y, w=1.0):
        p = self.predict_proba_one(x)
        if y not in self.w:
            self.w[y], self.b[y], self.t[y] = {}, 0.0, 0
            self.state[y] = PlainGLM(0.0, self.opt, self.lr)
        for c in self.w:
            lg = (min(max(p.get(c, 0.0), 1e-15), 1 - 1e-15) - (1.0 if c == y else 0.0)) * w
            self.b[c] -= self.intercept_lr * lg
            opt = self.state[c]
            opt.w = self.w[c]
            rate = opt.lr
            if self.opt == "adam":
                t = self.t[c]
                rate = opt.lr * (1 - opt.b2 ** (t + 1)) ** 0.5 / (1 - opt.b1 ** (t + 1))
            for k, xv in x.items():
                opt._step(k, xv * lg + self.l2 * self.w[c].get(k, 0.0), rate)
            self.t[c] += 1
