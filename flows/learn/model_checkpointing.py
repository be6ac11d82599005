"""Model checkpointing: each model written to a versioned checkpoint file every N labels or T
seconds (and at the end of input), with the feature state it was trained on and the serving
rule's state (selection policy or deployment mode), so that a later job can warm-start from it
(:mod:`online_models.checkpoints`).

>>> import tempfile
>>> from online_models.learner import Learner, ModelSettings
>>> from operators.featurize import FeatureSpec, Featurizer
>>> from operators.feature_step import FeatureStep
>>> d = tempfile.mkdtemp()
>>> mc = ModelCheckpointing(ModelCheckpointSettings(directory=d, every_events=10), "h",
...                         FeatureStep(Featurizer(FeatureSpec(numeric=("x",)))))
>>> mc.due_by_time()
False
>>> mc.write([Learner(ModelSettings("lr", "fast_logistic_regression"))], 10, {})
>>> sorted(p.name for p in __import__("pathlib").Path(d).iterdir())
['lr-v0001.features.pkl', 'lr-v0001.json', 'lr-v0001.pkl']
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flows.learn.serving import Serving
from online_models import checkpoints
from online_models.learner import Learner
from operators.feature_step import FeatureStep
from operators.settings import Settings, at_least, number_in, setting, string

__all__ = ["ModelCheckpointSettings", "ModelCheckpointing"]


@dataclass(frozen=True)
class ModelCheckpointSettings(Settings):
    """``[model_checkpoints]``: where and how often model checkpoints are written, and where a
    job warm-starts from."""

    directory: str = setting("", string)
    every_events: int = setting(0, at_least(0))
    every_s: float = setting(0.0, number_in(0))
    warm_start: str = setting("", string)
    keep: int = setting(5, at_least(0))


class ModelCheckpointing:
    """Write the models to checkpoint files when due.

    Args:
        settings: the ``[model_checkpoints]`` settings (``directory`` set).
        schema_hash: the hash of the feature schema the models are trained on.
        features: the featurize step, whose state is saved beside each model.
        serving: the learn step's serving rule, whose state (the selection policy or
            deployment mode) is saved beside each model too (None: not saved).
    """

    def __init__(
        self,
        settings: ModelCheckpointSettings,
        schema_hash: str,
        features: FeatureStep,
        serving: Serving | None = None,
    ) -> None:
        self.settings = settings
        self.schema_hash = schema_hash
        self.features = features
        self.serving = serving
        self.last_events = 0
        self.last_time = time.time()
        self.written = 0  # checkpoints written, per model at most (rounds)
        self._per_model: dict[str, int] = {}

    def due_by_time(self) -> bool:
        """Whether ``every_s`` seconds have passed since the last checkpoint (wall clock)."""
        s = self.settings
        return bool(s.every_s) and time.time() - self.last_time >= s.every_s

    def write(self, learners: Sequence[Learner], events: int, extra: dict[str, Any]) -> None:
        """Every model's checkpoint, after ``events`` labels."""
        for learner in learners:
            self.write_one(learner, events, extra)

    def write_one(self, learner: Learner, events: int, extra: dict[str, Any]) -> None:
        """One model's checkpoint, after ``events`` labels (``every_events`` writes each model
        right after its N-th label, whatever the batch cut)."""
        checkpoints.save(
            self.settings.directory,
            learner,
            extra,
            schema_hash=self.schema_hash,
            features=self.features.featurizer,
            serving=None if self.serving is None else self.serving.rule,
            keep=self.settings.keep,
        )
        count = self._per_model[learner.name] = self._per_model.get(learner.name, 0) + 1
        self.written = max(self.written, count)
        self.last_events, self.last_time = events, time.time()

    def summary(self) -> dict[str, Any]:
        return {"directory": self.settings.directory, "written": self.written}
