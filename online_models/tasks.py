"""What depends on the task (classification or regression), in one object.

A :class:`Task` knows its metric suite and headline metric, how wrong a prediction is (the
error fed to drift detectors), the reward a selection policy maximizes, and whether models give
class probabilities. Nothing else in riverbed switches on the task's name.

>>> t = task("classification")
>>> t.metric, t.errors([True, False], [True, None]).tolist()
('accuracy', [0.0, 1.0])
>>> t.rewards(np.array([0.0, 1.0])).tolist()
[1.0, 0.0]
>>> r = task("regression")
>>> r.metric, r.errors([1.0], [3.0]).tolist(), r.rewards(np.array([2.0])).tolist(), r.probabilistic
('mae', [2.0], [-4.0], False)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from online_models.errors import ModelError
from online_models.metrics import ClassificationMetrics, RegressionMetrics

__all__ = ["TASKS", "Task", "Classification", "Regression", "task"]


class Task:
    """Base of the tasks (see the module).

    Attributes:
        name: ``"classification"`` or ``"regression"``.
        metric: the headline metric of the run summary.
        probabilistic: whether models give class probabilities.
    """

    name = ""
    metric = ""
    probabilistic = False

    def metrics(
        self, window: int | None, pos_label: Hashable | None = True
    ) -> ClassificationMetrics | RegressionMetrics:
        """A fresh metric suite (cumulative and over a rolling ``window``)."""
        raise NotImplementedError

    def errors(self, ys: Sequence[Any], preds: Sequence[Any]) -> np.ndarray:
        """The error of each prediction (1 for a missing one in classification)."""
        raise NotImplementedError

    def rewards(self, errors: np.ndarray) -> np.ndarray:
        """Higher is better: what a selection policy maximizes."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"task({self.name!r})"


class Classification(Task):
    """Class labels; error 0/1; reward 1 - error (accuracy)."""

    name = "classification"
    metric = "accuracy"
    probabilistic = True

    def metrics(
        self, window: int | None, pos_label: Hashable | None = True
    ) -> ClassificationMetrics:
        return ClassificationMetrics(window, pos_label)

    def errors(self, ys: Sequence[Any], preds: Sequence[Any]) -> np.ndarray:
        return np.array([1.0 if p is None else float(p != y) for y, p in zip(ys, preds)])

    def rewards(self, errors: np.ndarray) -> np.ndarray:
        return 1.0 - errors


class Regression(Task):
    """Numbers; error ``|y - prediction|``; reward the negative squared error."""

    name = "regression"
    metric = "mae"

    def metrics(self, window: int | None, pos_label: Hashable | None = True) -> RegressionMetrics:
        return RegressionMetrics(window)

    def errors(self, ys: Sequence[Any], preds: Sequence[Any]) -> np.ndarray:
        return np.array([1.0 if p is None else abs(float(y) - float(p)) for y, p in zip(ys, preds)])

    def rewards(self, errors: np.ndarray) -> np.ndarray:
        return -(errors**2)


_TASKS: dict[str, Task] = {t.name: t for t in (Classification(), Regression())}
TASKS = tuple(_TASKS)


def task(name: str) -> Task:
    """The task called ``name``."""
    found = _TASKS.get(name)
    if found is None:
        raise ModelError(f"job.task: expected one of {', '.join(TASKS)}, got {name!r}")
    return found
