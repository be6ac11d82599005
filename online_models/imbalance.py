"""Imbalanced streams: online class weights, and River's resampling wrappers by name.

Two remedies, chosen by configuration:

* :class:`ClassWeights` turns the label counts seen so far into per-event importance weights
  (inverse frequency, "balanced"), for any learner whose ``learn`` accepts a sample weight
  (the numpy learners of :mod:`online_models.linear`; River's linear models take ``w``).
* :func:`wrap_sampler` wraps a River classifier in one of River's ``imblearn`` samplers, which
  decide per event whether (or how often) the classifier learns it.

>>> cw = ClassWeights()
>>> cw.update([0, 0, 0, 1]).tolist()  # the first 0 is the only class so far: weight 1
[1.0, 1.0, 1.0, 2.0]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from river import imblearn

from online_models.errors import ModelError

__all__ = ["SAMPLERS", "ClassWeights", "wrap_sampler"]


class ClassWeights:
    """Online inverse-frequency class weights: ``w_c = n / (k * n_c)``, capped at ``max_weight``.

    ``n`` is the number of labels counted, ``k`` the number of distinct classes among them and
    ``n_c`` the count of class ``c``, so a balanced stream weighs every event 1 and the weighted
    class totals are equal. Each label is counted, then weighed, one at a time in order: its
    weight depends on the labels before it and on itself, never on the batch it came in.

    Args:
        max_weight: upper bound of a weight (a first minority event after a long majority run
            would otherwise take one huge step).
    """

    def __init__(self, max_weight: float = 100.0) -> None:
        if not max_weight > 0:
            raise ModelError(f"class weights max_weight: expected a number > 0, got {max_weight!r}")
        self.max_weight = max_weight
        self.counts: Counter[Hashable] = Counter()

    def update(self, ys: Sequence[Hashable] | np.ndarray) -> np.ndarray:
        """Count each label of ``ys`` in order and return its weight as of then."""
        labels = ys.tolist() if isinstance(ys, np.ndarray) else ys
        counts, cap = self.counts, self.max_weight
        n = sum(counts.values())
        out = np.empty(len(labels))
        for i, y in enumerate(labels):
            counts[y] += 1
            n += 1
            out[i] = min(n / (len(counts) * counts[y]), cap)
        return out

    def weights(self) -> dict[Hashable, float]:
        """The current weight of each class seen."""
        n = sum(self.counts.values())
        k = len(self.counts)
        return {c: min(n / (k * m), self.max_weight) for c, m in self.counts.items()}


SAMPLERS: dict[str, Any] = {
    "under": imblearn.RandomUnderSampler,
    "over": imblearn.RandomOverSampler,
    "hard": imblearn.HardSamplingClassifier,
}


def wrap_sampler(classifier: Any, sampler: str, params: Mapping[str, Any] | None = None) -> Any:
    """Wrap a River classifier in the River sampler ``sampler`` with ``params``.

    ``"under"`` and ``"over"`` need ``desired_dist`` (label -> proportion, keys equal to the
    labels); ``"hard"`` needs ``size`` and ``p``. ``seed`` defaults to 0 so that runs repeat.

    Args:
        classifier: a River classifier (it learns one dict at a time).
        sampler: a key of :data:`SAMPLERS`.
        params: the sampler's keyword arguments.

    >>> from river import linear_model
    >>> lr = linear_model.LogisticRegression()
    >>> m = wrap_sampler(lr, "under", {"desired_dist": {False: 0.5, True: 0.5}})
    >>> type(m).__name__, m.seed
    ('RandomUnderSampler', 0)
    """
    cls = SAMPLERS.get(sampler)
    if cls is None:
        raise ModelError(f"imbalance.sampler: expected one of {sorted(SAMPLERS)}, got {sampler!r}")
    if not hasattr(classifier, "learn_one"):
        raise ModelError(
            f"imbalance.sampler {sampler!r}: needs a River classifier (learn_one), "
            f"got {type(classifier).__name__}; use class weights with vectorized learners"
        )
    kwargs = {"seed": 0, **(params or {})}
    try:
        return cls(classifier, **kwargs)
    except TypeError as exc:
        msg = f"imbalance.sampler {sampler!r}: bad parameters {kwargs!r}: {exc}"
        raise ModelError(msg) from None
