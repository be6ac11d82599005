"""Building learners in tests with the old keyword style."""

from __future__ import annotations

from typing import Any

from online_models.learner import Learner, ModelSettings
from online_models.scoring import MetricsSettings
from online_models.tasks import task as task_of


def learner(
    name: str,
    estimator: str,
    params: dict[str, Any] | None = None,
    task: str = "classification",
    *,
    window: int = 1000,
    pos_label: Any = True,
    class_weights: bool = False,
    sampler: str | None = None,
    sampler_params: dict[str, Any] | None = None,
) -> Learner:
    spec = ModelSettings(
        name,
        estimator,
        dict(params or {}),
        class_weights,
        sampler or "",
        dict(sampler_params or {}),
    )
    return Learner(spec, task_of(task), MetricsSettings(window=window, pos_label=pos_label))
