"""The optimizer settings of the linear learners (River's ``optim.SGD``, ``Adam``, ``AdaGrad``).

An optimizer here is a frozen bundle of settings: the steps themselves run inside the compiled
loops of :mod:`online_models.linear_kernels`, and the per-weight state (Adam's moments,
AdaGrad's sums of squares, the step counts) belongs to the model, so one optimizer instance
can configure any number of models.

>>> make_optimizer("LogisticRegression", "adam", 0.05)
Adam(lr=0.05, beta_1=0.9, beta_2=0.999, eps=1e-08)
>>> make_optimizer("LogisticRegression", "sgd", None).lr
0.01
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from online_models import linear_kernels as kernels
from online_models.errors import ModelError

__all__ = ["OPTIMIZERS", "SGD", "AdaGrad", "Adam", "Optimizer", "make_optimizer"]


@dataclass(frozen=True)
class Optimizer:
    """Base class: a constant learning rate, > 0.

    Args:
        lr: the learning rate.
    """

    lr: float

    code = -1  # the kernels' number for this optimizer

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ModelError(f"{type(self).__name__}.lr: expected a number > 0, got {self.lr!r}")

    def constants(self) -> tuple[float, float, float]:
        """``(beta_1, beta_2, eps)`` as the kernels take them (unused ones are 0)."""
        return 0.0, 0.0, 0.0


@dataclass(frozen=True)
class SGD(Optimizer):
    """Plain stochastic gradient descent: ``w -= lr * g``.

    Args:
        lr: the learning rate.
    """

    lr: float = 0.01

    code = kernels.SGD


@dataclass(frozen=True)
class Adam(Optimizer):
    """Adam, with both bias corrections folded into the step size, as River's.

    Args:
        lr: the learning rate.
        beta_1: decay of the first moment.
        beta_2: decay of the second moment.
        eps: added to the root of the second moment.
    """

    lr: float = 0.1
    beta_1: float = 0.9
    beta_2: float = 0.999
    eps: float = 1e-8

    code = kernels.ADAM

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ModelError(f"Adam.{name}: expected 0 <= {name} < 1")
        if not self.eps > 0:
            raise ModelError(f"Adam.eps: expected a number > 0, got {self.eps!r}")

    def constants(self) -> tuple[float, float, float]:
        return self.beta_1, self.beta_2, self.eps


@dataclass(frozen=True)
class AdaGrad(Optimizer):
    """AdaGrad: each weight's step shrinks with its summed squared gradients, as River's.

    Args:
        lr: the learning rate.
        eps: added to the sum of squares under the root.
    """

    lr: float = 0.1
    eps: float = 1e-8

    code = kernels.ADAGRAD

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.eps > 0:
            raise ModelError(f"AdaGrad.eps: expected a number > 0, got {self.eps!r}")

    def constants(self) -> tuple[float, float, float]:
        return 0.0, 0.0, self.eps


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {"sgd": SGD, "adam": Adam, "adagrad": AdaGrad}


def make_optimizer(owner: str, optimizer: str | Optimizer, lr: float | None) -> Optimizer:
    """The optimizer named ``optimizer`` (with ``lr``, else its default), or the instance.

    Args:
        owner: the model, named in error messages.
        optimizer: a key of :data:`OPTIMIZERS` or an :class:`Optimizer`.
        lr: learning rate for a named optimizer; must be None with an instance.
    """
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            raise ModelError(f"{owner}.lr: set the rate on the optimizer instance, not both")
        return optimizer
    cls = OPTIMIZERS.get(optimizer)
    if cls is None:
        raise ModelError(
            f"{owner}.optimizer: expected one of {sorted(OPTIMIZERS)}, got {optimizer!r}"
        )
    return cls() if lr is None else cls(lr=lr)
