"""Vectorized optimizers for the numpy linear learners, step for step the same as River's.

An optimizer updates a weight array in place from a gradient over some of its last-axis columns
(the features present in the batch): the weights and the optimizer state of absent features are
left alone, as River leaves the keys missing from an event's dict alone. The weight array is a
vector ``(n_features,)`` or a matrix ``(n_classes, n_features)``; adaptive optimizers keep one step
count per row, as River keeps one optimizer per class in its softmax regression.

>>> w = np.zeros(2)
>>> SGD(lr=0.5).step(w, np.array([1.0, -2.0]))
>>> w.tolist()
[-0.5, 1.0]
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from online_models.errors import ModelError

__all__ = ["OPTIMIZERS", "SGD", "AdaGrad", "Adam", "Optimizer", "make_optimizer"]


def _grown(a: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` padded with zeros at the end of each axis up to ``shape`` (zeros if ``a`` is None)."""
    if a is None:
        return np.zeros(shape)
    if a.shape == shape:
        return a
    out = np.zeros(shape, dtype=a.dtype)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


class Optimizer:
    """Base class: a learning rate and per-coordinate state shaped like the weights.

    Args:
        lr: the (constant) learning rate, > 0.
    """

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise ModelError(f"{type(self).__name__}.lr: expected a number > 0, got {lr!r}")
        self.lr = lr

    def resize(self, shape: tuple[int, ...]) -> None:
        """Grow the state to weights of ``shape`` (new features, new classes start at zero)."""

    def step(self, w: np.ndarray, g: np.ndarray, cols: np.ndarray | None = None) -> None:
        """Update ``w[..., cols]`` in place from the gradient ``g`` (all columns if None)."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain stochastic gradient descent with a constant learning rate (River's ``optim.SGD``).

    Args:
        lr: the learning rate.
    """

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def step(self, w: np.ndarray, g: np.ndarray, cols: np.ndarray | None = None) -> None:
        if cols is None:
            w -= self.lr * g
        else:
            w[..., cols] -= self.lr * g


class Adam(Optimizer):
    """Adam with bias correction folded into the step size (River's ``optim.Adam``).

    Args:
        lr: the learning rate.
        beta_1: decay of the first moment.
        beta_2: decay of the second moment.
        eps: added to the root of the second moment.

    >>> w, adam = np.zeros((2, 3)), Adam(lr=0.1)
    >>> adam.resize(w.shape)
    >>> adam.step(w, np.ones((2, 2)), cols=np.array([0, 2]))
    >>> np.round(w, 3).tolist(), adam.t.tolist()
    ([[-0.1, 0.0, -0.1], [-0.1, 0.0, -0.1]], [1.0, 1.0])
    """

    def __init__(
        self, lr: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.eps = eps
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def resize(self, shape: tuple[int, ...]) -> None:
        self.m = _grown(self.m, shape)
        self.v = _grown(self.v, shape)
        self.t = _grown(self.t, shape[:-1])

    def step(self, w: np.ndarray, g: np.ndarray, cols: np.ndarray | None = None) -> None:
        assert self.m is not None and self.v is not None and self.t is not None, "resize first"
        b1, b2 = self.beta_1, self.beta_2
        lr = self.lr * (1 - b2 ** (self.t + 1)) ** 0.5 / (1 - b1 ** (self.t + 1))
        idx = (Ellipsis, slice(None) if cols is None else cols)
        m = b1 * self.m[idx] + (1 - b1) * g
        v = b2 * self.v[idx] + (1 - b2) * g**2
        self.m[idx] = m
        self.v[idx] = v
        w[idx] -= np.expand_dims(lr, -1) * m / (v**0.5 + self.eps)
        self.t += 1


class AdaGrad(Optimizer):
    """AdaGrad: the step of each weight shrinks with its summed squared gradients (River's).

    Args:
        lr: the learning rate.
        eps: added to the sum of squares under the root.
    """

    def __init__(self, lr: float = 0.1, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.eps = eps
        self.g2: np.ndarray | None = None

    def resize(self, shape: tuple[int, ...]) -> None:
        self.g2 = _grown(self.g2, shape)

    def step(self, w: np.ndarray, g: np.ndarray, cols: np.ndarray | None = None) -> None:
        assert self.g2 is not None, "resize first"
        idx = (Ellipsis, slice(None) if cols is None else cols)
        g2 = self.g2[idx] + g**2
        self.g2[idx] = g2
        w[idx] -= self.lr / (g2 + self.eps) ** 0.5 * g


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {"sgd": SGD, "adam": Adam, "adagrad": AdaGrad}


def make_optimizer(owner: str, optimizer: str | Optimizer, lr: float | None) -> Optimizer:
    """The optimizer named ``optimizer`` (with ``lr``, else its default), or a copy of an instance.

    Args:
        owner: the model, named in error messages.
        optimizer: a key of :data:`OPTIMIZERS` or an :class:`Optimizer` (copied, never stepped).
        lr: learning rate for a named optimizer; must be None with an instance.
    """
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            raise ModelError(f"{owner}.lr: set the rate on the optimizer instance, not both")
        return copy.deepcopy(optimizer)
    cls = OPTIMIZERS.get(optimizer)
    if cls is None:
        raise ModelError(
            f"{owner}.optimizer: expected one of {sorted(OPTIMIZERS)}, got {optimizer!r}"
        )
    return cls() if lr is None else cls(lr=lr)
