"""Item streams for the serving rules, and a driver that feeds one to a rule in batches.

A stream is what the learn step hands the serving rule: events and labels in merged stream
order, every model's reward for each label (NaN where the model had no answer for that event),
which models have an answer for each event, and each event's routing key. The driver plays the
caller: it cuts the items into batches, tells a rule for each label whether its event is in the
same batch (``label_event``) or hands back the served arm and probability it kept.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Stream:
    kinds: np.ndarray  # (n_items,) 0 event, 1 label
    available: np.ndarray  # (n_events, k)
    rewards: np.ndarray  # (n_labels, k)
    label_of: np.ndarray  # (n_labels,) the global index of each label's event
    keys: list[str]  # one per event

    @property
    def n_events(self) -> int:
        return len(self.available)


def make_stream(
    n_events: int,
    means: Sequence[float] | np.ndarray,
    seed: int,
    *,
    max_delay: int = 0,
    missing_labels: float = 0.0,
    unavailable: float = 0.0,
    real: bool = False,
) -> Stream:
    """Events with Bernoulli (or, ``real``, negative squared Gaussian) rewards per model.

    ``means`` is ``(k,)`` or ``(n_events, k)``. Each event's label follows it after a delay of
    0 (right after it) to ``max_delay`` events; a share ``missing_labels`` of labels never comes;
    a model has no answer for an event with probability ``unavailable`` (reward NaN).
    """
    rng = np.random.default_rng(seed)
    m = np.broadcast_to(np.asarray(means, dtype=float), (n_events, np.shape(means)[-1]))
    k = m.shape[1]
    if real:
        rewards = -((rng.normal(0.0, 1.0, m.shape) * (1.5 - m)) ** 2)
    else:
        rewards = (rng.random(m.shape) < m).astype(float)
    available = rng.random((n_events, k)) >= unavailable
    rewards[~available] = np.nan
    delays = rng.integers(0, max_delay + 1, n_events)
    labeled = np.flatnonzero(rng.random(n_events) >= missing_labels)
    # an event at slot (t, 0); its label after the event t + delay, labels in event order
    slots = [(t, 0, t) for t in range(n_events)]
    slots += [(min(t + int(delays[t]), n_events - 1), 1, t) for t in labeled]
    slots.sort()
    kinds = np.array([s[1] for s in slots], dtype=np.int8)
    label_of = np.array([s[2] for s in slots if s[1] == 1], dtype=np.int64)
    keys = [f"user-{int(u)}" for u in rng.integers(0, max(n_events // 3, 1), n_events)]
    return Stream(kinds, available, rewards[label_of], label_of, keys)


@dataclass
class Played:
    arms: np.ndarray
    chosen: np.ndarray
    probs: np.ndarray | None
    records: list[dict[str, Any]]
    summary: dict[str, Any]
    rule: Any


def play(
    rule: Any,
    stream: Stream,
    cuts: Sequence[int] | None = None,
    *,
    pickle_at: Sequence[int] = (),
    allowed: np.ndarray | None = None,
    fallback: int = -1,
    freeze: bool = False,
) -> Played:
    """Feed ``stream`` to ``rule`` in batches ending at the item indices ``cuts`` (one batch
    when None), round-tripping the rule through pickle before the batches starting at
    ``pickle_at``. With ``freeze`` every input array is read-only (a mutation would raise)."""
    n_items = len(stream.kinds)
    bounds = sorted({0, n_items, *(cuts or ())})
    event_no = np.cumsum(stream.kinds == 0) - 1  # per item, the global index of its event
    label_no = np.cumsum(stream.kinds == 1) - 1
    arms = np.full(stream.n_events, -1)
    chosen = np.full(stream.n_events, -1)
    probs = np.full(stream.n_events, np.nan)
    no_probs = False
    records: list[dict[str, Any]] = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if lo in pickle_at:
            rule = pickle.loads(pickle.dumps(rule))
        kinds = stream.kinds[lo:hi]
        events = event_no[lo:hi][kinds == 0]
        labels = label_no[lo:hi][kinds == 1]
        first = events[0] if len(events) else 0
        of = stream.label_of[labels]
        inline = np.isin(of, events)
        label_event = np.where(inline, of - first, -1)
        label_arm = np.where(inline, -1, arms[of])
        label_prob = np.where(inline, np.nan, probs[of])
        inputs = [
            kinds.copy(), stream.available[events], stream.rewards[labels], label_event,
            label_arm, label_prob,
        ]  # fmt: skip
        if allowed is not None:
            inputs.append(allowed.copy())
        if freeze:
            for a in inputs:
                a.flags.writeable = False
        served = rule.run(
            *inputs[:6],
            list(of + 1),  # the position of each label's event
            event_keys=[stream.keys[e] for e in events],
            allowed=inputs[6] if allowed is not None else None,
            fallback=fallback,
        )
        arms[events] = served.arms
        chosen[events] = served.chosen
        if served.probs is None:
            no_probs = True
        else:
            probs[events] = served.probs
        records += served.records
    return Played(arms, chosen, None if no_probs else probs, records, rule.summary(), rule)


def random_cuts(n_items: int, seed: int, mean: int = 40) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(set(rng.integers(0, n_items, max(n_items // mean, 1)).tolist()))
