"""The feature step: standard scaling of numeric features and capped one-hot encoding.

Each numeric value is scaled with the mean and variance of the values before it in the stream
(transform, then learn), so batch boundaries do not change the output. Categories get one
column each, ``"<feature>=<value>"``, in order of first appearance, up to ``max_categories``
per feature; later or unseen ones share the overflow column ``"<feature>=__other__"``.

>>> f = Featurizer(FeatureSpec(numeric=("x",), categorical=("c",), max_categories=1))
>>> block = f.update([{"x": 1.0, "c": "a"}, {"x": 3.0, "c": "b"}, {"x": 5.0, "c": "a"}])
>>> block.names, block.matrix.tolist()
(('x', 'c=a', 'c=__other__'), [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [3.0, 1.0, 0.0]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from operators.errors import OperatorError
from operators.records import FeatureBlock

__all__ = ["FeatureSpec", "Featurizer"]

OTHER = "__other__"


@dataclass(frozen=True)
class FeatureSpec:
    """What to compute: numeric features (scaled or not), categoricals (one-hot, capped)."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    scaling: str = "standard"
    max_categories: int = 64


class Featurizer:
    """Incremental standard scaling and one-hot encoding, one call per batch."""

    def __init__(self, spec: FeatureSpec) -> None:
        if spec.scaling not in ("standard", "none"):
            raise OperatorError(
                f"featurizer: scaling must be 'standard' or 'none', got {spec.scaling!r}"
            )
        self.spec = spec
        d = len(spec.numeric)
        self.count = 0
        self.mean = np.zeros(d)
        self.m2 = np.zeros(d)
        self.vocab: dict[str, dict[str, int]] = {c: {} for c in spec.categorical}

    def update(self, events: Sequence[Mapping[str, Any]]) -> FeatureBlock:
        num = self._numeric(events)
        cat_names, cat = self._one_hot(events)
        names = tuple(self.spec.numeric) + cat_names
        matrix = np.hstack([num, cat]) if cat_names else num
        sparse = (False,) * len(self.spec.numeric) + (True,) * len(cat_names)
        return FeatureBlock(names, matrix, sparse)

    def _numeric(self, events: Sequence[Mapping[str, Any]]) -> np.ndarray:
        raw = np.array([[e[n] for n in self.spec.numeric] for e in events], dtype=float)
        raw = raw.reshape(len(events), len(self.spec.numeric))
        if self.spec.scaling == "none":
            return raw
        out = np.empty_like(raw)
        mean, m2, count = self.mean, self.m2, self.count
        for i, row in enumerate(raw):  # Welford, one event at a time: exact per-event semantics
            if count:
                std = np.sqrt(m2 / count)
                out[i] = np.divide(row - mean, std, out=np.zeros_like(row), where=std > 0)
            else:
                out[i] = 0.0
            count += 1
            delta = row - mean
            mean = mean + delta / count
            m2 = m2 + delta * (row - mean)
        self.mean, self.m2, self.count = mean, m2, count
        return out

    def _one_hot(self, events: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], np.ndarray]:
        cap = self.spec.max_categories
        for c in self.spec.categorical:
            vocab = self.vocab[c]
            for e in events:
                v = e[c]
                if v not in vocab and len(vocab) < cap:
                    vocab[v] = len(vocab)
        names: list[str] = []
        offsets = {}
        for c in self.spec.categorical:
            offsets[c] = len(names)
            names.extend(f"{c}={v}" for v in self.vocab[c])
            names.append(f"{c}={OTHER}")
        out = np.zeros((len(events), len(names)))
        for c in self.spec.categorical:
            vocab, base, other = self.vocab[c], offsets[c], offsets[c] + len(self.vocab[c])
            for i, e in enumerate(events):
                out[i, base + vocab.get(e[c], other - base)] = 1.0
        return tuple(names), out
