"""The compiled per-item loop of the deployment modes (see :mod:`online_models.deployment`).

:func:`run_deployment` walks a batch's items in stream order: an event is routed (champion,
or the canary for a key in its share), passed over to another model where the routed one has
no answer, and handed to the latency fallback where it is not allowed; a label scores the
models, updates the exact sliding windows, and may make a decision due. At a decision point
(a champion/challenger test due, a canary behind by more than its margin) the loop returns
right after that label, so the caller decides, records the decision at that label's position,
and resumes the loop with the next item: decisions never wait for the end of a batch.

The sliding windows are rings with running totals; each time a ring wraps, its totals are
recomputed from the ring in arrival order, so rounding never accumulates beyond one window and
the floats are the same for any batch cut.

>>> SHADOW, CHAMPION_CHALLENGER, CANARY
(0, 1, 2)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from online_models.serving import served_arm

__all__ = [
    "SHADOW",
    "CHAMPION_CHALLENGER",
    "CANARY",
    "DONE",
    "TEST_DUE",
    "ROLLBACK",
    "run_deployment",
]

SHADOW, CHAMPION_CHALLENGER, CANARY = range(3)
DONE, TEST_DUE, ROLLBACK = range(3)


@njit(cache=True)
def run_deployment(
    mode: int,
    start: int,
    e: int,
    j: int,
    champion: int,
    canary: int,
    rolled_back: bool,
    share: float,
    units: np.ndarray,
    bandit: bool,
    every: int,
    min_events: int,
    margin: float,
    kinds: np.ndarray,
    available: np.ndarray,
    rewards: np.ndarray,
    label_event: np.ndarray,
    label_arm: np.ndarray,
    allowed: np.ndarray,
    fallback: int,
    served_counts: np.ndarray,
    passed_over: np.ndarray,
    served: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
    labels: np.ndarray,
    recent: np.ndarray,
    recent_n: np.ndarray,
    recent_pos: np.ndarray,
    recent_sum: np.ndarray,
    pairs: np.ndarray,
    pairs_at: np.ndarray,
    better: np.ndarray,
    diff: np.ndarray,
    diff_n: np.ndarray,
    since: np.ndarray,
    out_arms: np.ndarray,
    out_chosen: np.ndarray,
) -> tuple[int, int, int, int]:  # pragma: no cover - compiled
    """Process items from ``start`` (the ``e``-th event, ``j``-th label) until the end or a
    decision point; returns ``(next item, next event, next label, DONE | TEST_DUE | ROLLBACK)``.
    """
    k = sums.shape[0]
    row = np.empty(k)
    for i in range(start, kinds.shape[0]):
        if kinds[i] == 0:
            r = champion
            if mode == CANARY and not rolled_back and units[e] < share:
                r = canary
            c = r
            if not available[e, r]:  # passed over: the champion, else the first with an answer
                if available[e, champion]:
                    c = champion
                else:
                    for m in range(k):
                        if available[e, m]:
                            c = m
                            break
                if c != r:
                    passed_over[r] += 1
            s = served_arm(c, available, e, allowed, fallback)
            out_arms[e] = s
            out_chosen[e] = c
            served_counts[s] += 1
            e += 1
            continue
        ev = label_event[j]
        a = out_arms[ev] if ev >= 0 else label_arm[j]
        for m in range(k):
            row[m] = rewards[j, m] if not bandit or m == a else np.nan
        labels[0] += 1
        if not np.isnan(row[a]):
            served[0] += row[a]
            served[1] += 1.0
        for m in range(k):
            if np.isnan(row[m]) or (mode == CANARY and m != a):
                continue  # a canary scores each model on the events it served
            sums[m] += row[m]
            counts[m] += 1
            _push(recent, recent_n, recent_pos, recent_sum, m, row[m])
        j += 1
        if mode == CHAMPION_CHALLENGER:
            _push_pair(pairs, pairs_at, better, diff, diff_n, champion, row)
            since[0] += 1
            if since[0] >= every and pairs_at[0] >= min_events:
                return i + 1, e, j, TEST_DUE
        elif mode == CANARY and not rolled_back:
            n_canary = recent_n[canary]
            n_champion = recent_n[champion]
            if n_canary >= min_events and n_champion >= min_events:
                gap = recent_sum[canary] / n_canary - recent_sum[champion] / n_champion
                if gap < -margin:
                    return i + 1, e, j, ROLLBACK
    return kinds.shape[0], e, j, DONE


@njit(cache=True, inline="always")
def _push(
    ring: np.ndarray, n: np.ndarray, pos: np.ndarray, total: np.ndarray, m: int, x: float
) -> None:  # pragma: no cover - compiled
    """Append ``x`` to model ``m``'s window (column ``m`` of ``ring``)."""
    w = ring.shape[0]
    p = pos[m]
    if n[m] == w:
        total[m] -= ring[p, m]
    else:
        n[m] += 1
    ring[p, m] = x
    total[m] += x
    p += 1
    if p == w:  # full, and in arrival order
        p = 0
        s = 0.0
        for t in range(w):
            s += ring[t, m]
        total[m] = s
    pos[m] = p


@njit(cache=True, inline="always")
def _push_pair(
    pairs: np.ndarray,
    at: np.ndarray,
    better: np.ndarray,
    diff: np.ndarray,
    diff_n: np.ndarray,
    champion: int,
    row: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Append a label's rewards to the paired window; ``at`` is (rows kept, next slot)."""
    w = pairs.shape[0]
    p = at[1]
    if at[0] == w:
        _count_pair(pairs, p, champion, better, diff, diff_n, -1)
    else:
        at[0] += 1
    for m in range(pairs.shape[1]):
        pairs[p, m] = row[m]
    _count_pair(pairs, p, champion, better, diff, diff_n, 1)
    p += 1
    if p == w:  # full, and in arrival order: exact sums of differences again
        p = 0
        for m in range(pairs.shape[1]):
            s = 0.0
            for t in range(w):
                d = pairs[t, m] - pairs[t, champion]
                if not np.isnan(d):
                    s += d
            diff[m] = s
    at[1] = p


@njit(cache=True, inline="always")
def _count_pair(
    pairs: np.ndarray,
    t: int,
    champion: int,
    better: np.ndarray,
    diff: np.ndarray,
    diff_n: np.ndarray,
    sign: int,
) -> None:  # pragma: no cover - compiled
    """Add (``sign`` 1) or remove (-1) the discordant pairs and differences of row ``t``."""
    ref = pairs[t, champion]
    for m in range(pairs.shape[1]):
        if m == champion:
            continue
        x = pairs[t, m]
        if ref > x:  # NaN compares as neither better nor worse
            better[0, m] += sign
        elif x > ref:
            better[1, m] += sign
        d = x - ref
        if not np.isnan(d):
            diff[m] += sign * d
            diff_n[m] += sign
