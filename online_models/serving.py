"""The serving rule's one call: serve the events and learn the labels of a batch, in stream order.

Every selection policy (:mod:`online_models.policies`, the bandit mode) and every deployment
mode (:mod:`online_models.deployment`) implements :class:`ServingRule`: one :meth:`~ServingRule.run`
per batch over the batch's *items* in merged stream order, each an event to serve (kind 0) or a
label whose rewards arrive (kind 1). The rule walks the items one at a time in a compiled loop:
an event is served from the statistics of the labels before it, a label is learned before the
next item is looked at. So the served arms, their probabilities, the summaries and the event
records are a function of the item sequence only, the same for any batch size or cut (tested
bit for bit), and a batch of one item is the per-event rule itself.

Per event:

1. the rule chooses among the models that have an answer for it (``available``); a model with
   no answer (its prediction is None) is passed over, so the served prediction is never None
   while any model has one (when none has, the rule chooses among all of them). Where the
   rule's choice over all models would have been a model with no answer, that model's
   ``passed_over`` count grows (in the rule's summary);
2. the latency budget's verdict (``allowed``, ``fallback``; wall-clock based, so it may differ
   between runs) swaps a chosen model that is not allowed for the fallback, if the fallback has
   an answer for that event.

``arms`` are the served models, ``chosen`` the rule's own choices, and ``probs`` the probability
the served model had of serving that event (the chosen model's probability, plus the other
choices the fallback would have answered for; deterministic rules give 1; None for Thompson
sampling, which has no closed form). With bandit feedback that probability is the importance
weight of the served model's reward (Exp3); the caller keeps ``arms`` and ``probs`` with the
prediction and hands them back as ``label_arm`` / ``label_prob`` for labels that come in a
later batch.

>>> from online_models.policies import UCB1
>>> policy = UCB1(["a", "b"])
>>> served = policy.run(
...     kinds=[0, 1, 0, 1, 0], available=[[True, True]] * 3,
...     rewards=[[0.0, 1.0], [0.0, 1.0]], label_event=[0, 1], label_arm=[-1, -1],
...     label_prob=[np.nan, np.nan], label_position=[1, 2])
>>> served.arms.tolist(), served.probs.tolist()
([0, 1, 1], [1.0, 1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
from numba import njit

from online_models.errors import ModelError

__all__ = [
    "FEEDBACKS",
    "Items",
    "Served",
    "ServingRule",
    "check_items",
    "feedback_mode",
    "served_arm",
]

FEEDBACKS = ("full", "bandit")


class Served(NamedTuple):
    """What :meth:`ServingRule.run` returns for a batch.

    Attributes:
        arms: the model serving each event (int64, one per event).
        chosen: the rule's own choice for each event, before the latency fallback.
        probs: the probability the served model had of serving each event; None for a rule
            that cannot tell (Thompson sampling).
        records: event records decided by the batch's labels (promotions, rollbacks), each at
            the position of the label that decided it.
    """

    arms: np.ndarray
    chosen: np.ndarray
    probs: np.ndarray | None
    records: list[dict[str, Any]]


class ServingRule(Protocol):
    """A selection policy or a deployment mode: serves events, learns labels, in stream order."""

    feedback: str

    def run(
        self,
        kinds: Sequence[int] | np.ndarray,
        available: Sequence[Sequence[bool]] | np.ndarray,
        rewards: Sequence[Sequence[float]] | np.ndarray,
        label_event: Sequence[int] | np.ndarray,
        label_arm: Sequence[int] | np.ndarray,
        label_prob: Sequence[float] | np.ndarray,
        label_position: Sequence[Any],
        event_keys: Sequence[Any] | None = None,
        allowed: Sequence[bool] | np.ndarray | None = None,
        fallback: int = -1,
    ) -> Served:
        """Serve the batch's events and learn its labels, one item at a time in stream order."""
        ...

    def summary(self) -> dict[str, Any]:
        """The rule's figures for the run summary."""
        ...


@dataclass(frozen=True)
class Items:
    """The validated inputs of one :meth:`ServingRule.run` (see :func:`check_items`)."""

    kinds: np.ndarray  # int8 (n_items,)
    available: np.ndarray  # bool (n_events, k)
    rewards: np.ndarray  # float64 (n_labels, k), NaN where a model has no reward
    label_event: np.ndarray  # int64 (n_labels,)
    label_arm: np.ndarray  # int64 (n_labels,), -1 where the event is in the batch
    label_prob: np.ndarray  # float64 (n_labels,)
    label_position: Sequence[Any]
    allowed: np.ndarray  # bool (k,)
    fallback: int

    @property
    def n_events(self) -> int:
        return int(self.available.shape[0])

    @property
    def n_labels(self) -> int:
        return int(self.rewards.shape[0])


def feedback_mode(feedback: str) -> str:
    """Check the ``selection.feedback`` setting.

    >>> feedback_mode("bandit")
    'bandit'
    """
    if feedback not in FEEDBACKS:
        raise ModelError(f"selection.feedback: expected one of {FEEDBACKS}, got {feedback!r}")
    return feedback


def check_items(
    k: int,
    kinds: Sequence[int] | np.ndarray,
    available: Sequence[Sequence[bool]] | np.ndarray,
    rewards: Sequence[Sequence[float]] | np.ndarray,
    label_event: Sequence[int] | np.ndarray,
    label_arm: Sequence[int] | np.ndarray,
    label_prob: Sequence[float] | np.ndarray,
    label_position: Sequence[Any],
    allowed: Sequence[bool] | np.ndarray | None,
    fallback: int,
) -> Items:
    """Validate the arguments of :meth:`ServingRule.run` for ``k`` models (never mutating them).

    Raises:
        ModelError: naming the argument (``run(kinds)``, ``run(available)``, ...) and what was
            expected: shapes that agree with the counts of events and labels in ``kinds``,
            rewards finite or NaN, an inline label after its event, a served arm in ``[0, k)``
            for every label whose event is in an earlier batch.

    >>> items = check_items(2, [0, 1], [[True, False]], [[1.0, np.nan]], [0], [-1], [np.nan],
    ...                     [7], None, -1)
    >>> items.n_events, items.n_labels, items.allowed.tolist()
    (1, 1, [True, True])
    """
    kind = np.asarray(kinds)
    if kind.ndim != 1 or (kind.size and kind.dtype.kind not in "iub"):
        raise ModelError("run(kinds): expected a 1-D sequence of 0 (event) and 1 (label)")
    kind = _ready(kind, np.int8)
    n_labels = _count_labels(kind)
    if n_labels < 0:
        raise ModelError("run(kinds): expected a 1-D sequence of 0 (event) and 1 (label)")
    n_events = kind.size - n_labels
    avail = _ready(available, np.bool_)
    if n_events == 0 and avail.size == 0:
        avail = np.zeros((0, k), dtype=bool)
    if avail.shape != (n_events, k):
        raise ModelError(
            f"run(available): expected shape ({n_events}, {k}) (events, models), got {avail.shape}"
        )
    r = _ready(rewards, np.float64)
    if n_labels == 0 and r.size == 0:
        r = np.zeros((0, k))
    if r.shape != (n_labels, k):
        raise ModelError(
            f"run(rewards): expected shape ({n_labels}, {k}) (labels, models), got {r.shape}"
        )
    if np.isinf(r).any():
        raise ModelError("run(rewards): expected finite numbers or NaN, got an infinity")
    event = _ints("run(label_event)", label_event, n_labels)
    arm = _ints("run(label_arm)", label_arm, n_labels)
    prob = _ready(label_prob, np.float64)
    if prob.shape != (n_labels,):
        raise ModelError(f"run(label_prob): expected {n_labels} probabilities, got {prob.shape}")
    if len(label_position) != n_labels:
        raise ModelError(
            f"run(label_position): expected {n_labels} positions, got {len(label_position)}"
        )
    bad = _bad_label(kind, event, arm, k)
    if bad >= 0:
        ev, a = int(event[bad]), int(arm[bad])
        if ev < -1 or ev >= n_events:
            raise ModelError(
                f"run(label_event): expected -1 or an event index in [0, {n_events}), got {ev} "
                f"(label {bad})"
            )
        if ev >= 0:
            raise ModelError(f"run(label_event): label {bad} comes before its event {ev}")
        raise ModelError(
            f"run(label_arm): expected the served arm in [0, {k}) for every label whose event "
            f"is in an earlier batch, got {a} (label {bad})"
        )
    if allowed is None:
        ok = np.ones(k, dtype=bool)
    else:
        ok = _ready(allowed, np.bool_)
        if ok.shape != (k,):
            raise ModelError(f"run(allowed): expected {k} booleans, got shape {ok.shape}")
    if (
        isinstance(fallback, bool)
        or not isinstance(fallback, (int, np.integer))
        or not (-1 <= fallback < k)
    ):
        raise ModelError(f"run(fallback): expected -1 (none) or a model index in [0, {k})")
    return Items(kind, avail, r, event, arm, prob, label_position, ok, int(fallback))


def _ints(key: str, x: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape != (n,) or (n and arr.dtype.kind not in "iu"):
        raise ModelError(f"{key}: expected {n} integers, got shape {arr.shape}")
    return _ready(arr, np.int64)


def _ready(x: Any, dtype: type) -> np.ndarray:
    """``x`` as a C-contiguous, writeable array of ``dtype`` (a copy where it is not), so the
    compiled loops see one array type (they never write into it)."""
    arr: np.ndarray = np.asarray(x, dtype=dtype)
    flags = arr.flags
    return arr if flags.c_contiguous and flags.writeable else np.array(arr, order="C")


@njit(cache=True)
def _count_labels(kinds: np.ndarray) -> int:  # pragma: no cover - compiled
    """The number of labels (kind 1) in ``kinds``, or -1 if a kind is neither 0 nor 1."""
    n = 0
    for i in range(kinds.shape[0]):
        if kinds[i] == 1:
            n += 1
        elif kinds[i] != 0:
            return -1
    return n


@njit(cache=True)
def _bad_label(
    kinds: np.ndarray, label_event: np.ndarray, label_arm: np.ndarray, k: int
) -> int:  # pragma: no cover - compiled
    """The first label whose event is not -1 nor an event before it in the batch, or whose
    event is in an earlier batch and whose arm is not in ``[0, k)``; -1 if none."""
    e = 0
    j = 0
    for i in range(kinds.shape[0]):
        if kinds[i] == 0:
            e += 1
            continue
        ev = label_event[j]
        if ev < -1 or ev >= e or (ev == -1 and not 0 <= label_arm[j] < k):
            return j
        j += 1
    return -1


@njit(cache=True, inline="always")
def served_arm(
    chosen: int, available: np.ndarray, e: int, allowed: np.ndarray, fallback: int
) -> int:  # pragma: no cover - compiled
    """The arm that serves event ``e``: ``chosen``, or the fallback where ``chosen`` is not
    allowed and the fallback has an answer (``available[e, fallback]``)."""
    if fallback >= 0 and not allowed[chosen] and available[e, fallback]:
        return fallback
    return chosen
