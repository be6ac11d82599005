"""The featurize step: each batch's events become a :class:`~operators.records.FeatureBlock`
(impute, scale, encode; see :mod:`operators.featurize`).

>>> from operators.featurize import FeatureSpec
>>> from operators.records import Batch, Events
>>> step = FeatureStep(Featurizer(FeatureSpec(numeric=("x",), scaler="none")))
>>> step.update(Batch(events=Events.of([{"x": 2.0}], ["x"])))[0].features.matrix.tolist()
[[2.0]]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any

from operators.errors import OperatorError
from operators.featurize import SCALERS, FeatureSpec, Featurizer
from operators.imputation import STRATEGIES
from operators.records import Batch, FeatureBlock
from operators.settings import Settings, at_least, boolean, names, number_in, one_of, setting

__all__ = ["FeatureSettings", "FeatureStep"]

_SPEC = {f.name: f for f in dataclasses.fields(FeatureSpec)}


def _default(key: str) -> Any:
    """FeatureSpec's default of ``key`` (the one place it is written)."""
    f = _SPEC[key]
    return f.default if f.default_factory is dataclasses.MISSING else f.default_factory()


def _strategies(v: Any) -> str | None:
    ok = isinstance(v, dict) and all(s in STRATEGIES for s in v.values())
    return None if ok else f"a table of field = strategy, strategies: {', '.join(STRATEGIES)}"


@dataclass(frozen=True)
class FeatureSettings(Settings):
    """``[features]``: the event fields that are features and how they are computed (the
    :class:`~operators.featurize.FeatureSpec`), and which of them a record must have."""

    numeric: tuple[str, ...] = setting((), names)
    categorical: tuple[str, ...] = setting((), names)
    required: tuple[str, ...] = setting((), names)
    impute: dict[str, str] = setting({}, _strategies)
    impute_default: str = setting(_default("impute_default"), one_of(*STRATEGIES))
    fill_value: float | None = setting(_default("fill_value"), number_in(-float("inf")))
    scaler: str = setting(_default("scaler"), one_of(*SCALERS))
    clip: float | None = setting(_default("clip"), number_in(0))
    outlier_std: float = setting(_default("outlier_std"), number_in(0))
    bins: int = setting(_default("bins"), at_least(2))
    max_categories: int = setting(_default("max_categories"), at_least(1))
    min_count: int = setting(_default("min_count"), at_least(1))
    hash_width: int | None = setting(_default("hash_width"), at_least(1))
    numeric_indicator: bool = setting(_default("numeric_indicator"), boolean)
    categorical_indicator: bool = setting(_default("categorical_indicator"), boolean)
    sketch_block: int = setting(_default("sketch_block"), at_least(1))

    def problems(self) -> list[str]:
        out = []
        both = set(self.numeric) & set(self.categorical)
        if both:
            out.append(f"numeric: {sorted(both)} listed as both numeric and categorical")
        named = set(self.numeric) | set(self.categorical)
        for key in ("required", "impute"):
            stray = sorted(set(getattr(self, key)) - named)
            if stray:
                out.append(f"{key}: {stray} are not listed in numeric or categorical")
        uses_constant = "constant" in (self.impute_default, *self.impute.values())
        if uses_constant and self.fill_value is None:
            out.append("fill_value: required when a field uses the 'constant' strategy")
        if not out:
            try:
                self.spec(0)
            except OperatorError as exc:
                out.append(str(exc).removeprefix("FeatureSpec: "))
        return out

    def spec(self, seed: int) -> FeatureSpec:
        """The featurizer's spec (every setting of the same name, and the seed)."""
        shared = {k: getattr(self, k) for k in _SPEC if k in self.keys()}
        return FeatureSpec(**shared, seed=seed)


class FeatureStep:
    """Attach the featurizer's output to each batch.

    Args:
        featurizer: the feature state (the model checkpoints save it beside each model, through
            the learn step's reference to this step).
    """

    def __init__(self, featurizer: Featurizer) -> None:
        self.featurizer = featurizer

    def update(self, batch: Batch) -> list[Batch]:
        events = batch.events
        if not len(events):
            return [batch]
        before = self.featurizer.clipped
        names, matrix = self.featurizer.transform_then_learn(events.numeric, events.categorical)
        clipped = tuple(a - b for a, b in zip(self.featurizer.clipped, before, strict=True))
        block = FeatureBlock(names, matrix, self.featurizer.sparse, clipped)
        return [replace(batch, features=block)]
