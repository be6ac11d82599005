"""The compiled per-item loop of the selection policies (see :mod:`online_models.policies`).

One function, :func:`run_policy`, walks a batch's items in stream order: an event draws its
random numbers (a fixed count per event and policy, or, for Thompson sampling, one posterior
draw per arm from the policy's own numpy Generator, which numba advances exactly as numpy
would), chooses among the arms with an answer, and is served (or handed to the latency
fallback); a label advances the statistics by one step. The rule is an integer code so that
one compiled function, cached on disk, serves every policy.

>>> RULES["ucb1"], DRAWS["epsilon_greedy"]
(1, 2)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from online_models.arm_stats import stats_step
from online_models.serving import served_arm

__all__ = ["RULES", "DRAWS", "FORCED", "run_policy"]

EPSILON_GREEDY, UCB1, THOMPSON_BERNOULLI, THOMPSON_GAUSSIAN, SOFTMAX, EXP3 = range(6)
RULES = {
    "epsilon_greedy": EPSILON_GREEDY,
    "ucb1": UCB1,
    "thompson_bernoulli": THOMPSON_BERNOULLI,
    "thompson_gaussian": THOMPSON_GAUSSIAN,
    "softmax": SOFTMAX,
    "exp3": EXP3,
}
# uniform draws per event (Thompson: one posterior draw per arm instead)
DRAWS = {"epsilon_greedy": 2, "ucb1": 0, "softmax": 1, "exp3": 1}
# the rules that serve an arm with no reward kept once, at its next event with an answer
FORCED = ("epsilon_greedy", "ucb1", "softmax")


@njit(cache=True)
def run_policy(
    rule: int,
    params: np.ndarray,
    bandit: bool,
    kinds: np.ndarray,
    available: np.ndarray,
    rewards: np.ndarray,
    label_event: np.ndarray,
    label_arm: np.ndarray,
    label_prob: np.ndarray,
    allowed: np.ndarray,
    fallback: int,
    rng: np.random.Generator,
    counts: np.ndarray,
    sums: np.ndarray,
    squares: np.ndarray,
    ring: np.ndarray,
    clock: np.ndarray,
    est_counts: np.ndarray,
    est_sums: np.ndarray,
    est_squares: np.ndarray,
    est_ring: np.ndarray,
    est_clock: np.ndarray,
    discount: float,
    pending: np.ndarray,
    chosen_counts: np.ndarray,
    passed_over: np.ndarray,
    out_arms: np.ndarray,
    out_chosen: np.ndarray,
    out_probs: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Serve the events and learn the labels of ``kinds``, in order (state arrays in place).

    ``params`` per rule: epsilon-greedy ``[epsilon, decay, min_epsilon]``, UCB1 ``[c]``,
    Gaussian Thompson ``[sigma]`` (0: estimate it), softmax ``[tau]``, Exp3 ``[explore, eta]``.
    ``est_*`` are Exp3's estimated totals (unused by the others).
    """
    k = counts.shape[0]
    forced = rule == EPSILON_GREEDY or rule == UCB1 or rule == SOFTMAX
    draws = np.zeros(k)
    dist = np.zeros(k)
    dist_all = np.zeros(k)
    mask = np.zeros(k, dtype=np.bool_)
    everyone = np.ones(k, dtype=np.bool_)
    row = np.empty(k)
    est_row = np.empty(k)
    swaps = False  # can the fallback serve in place of a chosen arm?
    for a in range(k):
        swaps = swaps or (fallback >= 0 and not allowed[a])
    e = 0
    j = 0
    for i in range(kinds.shape[0]):
        if kinds[i] == 0:
            any_ok = False
            all_ok = True
            for a in range(k):
                mask[a] = available[e, a]
                any_ok = any_ok or mask[a]
                all_ok = all_ok and mask[a]
            if not any_ok:  # nobody has an answer: choose among all
                for a in range(k):
                    mask[a] = True
            _draw(rule, params, rng, counts, sums, squares, draws)
            t = 0
            for a in range(k):
                t += chosen_counts[a]
            c = _pick(rule, params, mask, counts, sums, est_sums, pending, t, draws, dist)
            if any_ok and not all_ok:
                u = _pick(rule, params, everyone, counts, sums, est_sums, pending, t, draws,
                          dist_all)  # fmt: skip
                if not available[e, u]:
                    passed_over[u] += 1
            if forced and counts[c] == 0.0:
                pending[c] = True  # tried: not forced again until a reward for it comes
            chosen_counts[c] += 1
            s = c
            p = dist[c]
            if swaps:
                s = served_arm(c, available, e, allowed, fallback)
                p = 0.0
                for a in range(k):  # the probability of every choice the served arm answers
                    if dist[a] != 0.0 and served_arm(a, available, e, allowed, fallback) == s:
                        p += dist[a]
            out_arms[e] = s
            out_chosen[e] = c
            out_probs[e] = p
            e += 1
        else:
            ev = label_event[j]
            if ev >= 0:
                a = out_arms[ev]
                p = out_probs[ev]
            else:
                a = label_arm[j]
                p = label_prob[j]
            for b in range(k):
                row[b] = rewards[j, b] if not bandit or b == a else np.nan
            stats_step(counts, sums, squares, ring, clock, discount, row)
            if rule == EXP3:
                for b in range(k):  # bandit: importance weight, unbiased for every arm
                    est_row[b] = row[b] / p if bandit else row[b]  # full: Hedge
                stats_step(est_counts, est_sums, est_squares, est_ring, est_clock, discount,
                           est_row)  # fmt: skip
            for b in range(k):
                if not np.isnan(row[b]):
                    pending[b] = False
            j += 1


@njit(cache=True, inline="always")
def _draw(
    rule: int,
    params: np.ndarray,
    rng: np.random.Generator,
    counts: np.ndarray,
    sums: np.ndarray,
    squares: np.ndarray,
    draws: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """This event's random numbers, always the same amount for a rule (Thompson: per arm)."""
    k = counts.shape[0]
    if rule == EPSILON_GREEDY:
        draws[0] = rng.random()
        draws[1] = rng.random()
    elif rule == SOFTMAX or rule == EXP3:
        draws[0] = rng.random()
    elif rule == THOMPSON_BERNOULLI:
        for a in range(k):
            draws[a] = rng.beta(1.0 + sums[a], 1.0 + counts[a] - sums[a])
    elif rule == THOMPSON_GAUSSIAN:
        sigma = params[0] if params[0] > 0.0 else noise_scale(counts, sums, squares)
        for a in range(k):
            n = counts[a] + 1.0
            draws[a] = sums[a] / n + sigma / math.sqrt(n) * rng.standard_normal()


@njit(cache=True, inline="always")
def noise_scale(
    counts: np.ndarray, sums: np.ndarray, squares: np.ndarray
) -> float:  # pragma: no cover - compiled
    """Pooled within-arm standard deviation of the rewards kept (1 while there is none)."""
    total = 0.0
    within = 0.0
    for a in range(counts.shape[0]):
        total += counts[a]
        if counts[a] > 0.0:
            within += squares[a] - sums[a] / counts[a] * sums[a]
    if total <= 0.0:
        return 1.0
    var = within / total
    return math.sqrt(var) if var > 0.0 else 1.0


@njit(cache=True, inline="always")
def _pick(
    rule: int,
    params: np.ndarray,
    mask: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    est_sums: np.ndarray,
    pending: np.ndarray,
    t: int,
    draws: np.ndarray,
    dist: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """The rule's arm among ``mask``; ``dist`` gets each arm's probability (NaN: Thompson)."""
    k = counts.shape[0]
    n_mask = 0
    first = -1
    for a in range(k):
        dist[a] = 0.0
        if mask[a]:
            n_mask += 1
            if first < 0:
                first = a
    if rule == EPSILON_GREEDY or rule == UCB1 or rule == SOFTMAX:
        for a in range(k):  # an arm with no reward kept, not tried since: serve it now
            if mask[a] and counts[a] == 0.0 and not pending[a]:
                dist[a] = 1.0
                return a
    if rule == EPSILON_GREEDY:
        best = -1
        best_mean = 0.0
        for a in range(k):
            if mask[a] and counts[a] > 0.0:
                m = sums[a] / counts[a]
                if best < 0 or m > best_mean:
                    best = a
                    best_mean = m
        eps = 1.0
        if best >= 0:
            eps = max(params[2], params[0] / (1.0 + params[1] * t))
        for a in range(k):
            if mask[a]:
                dist[a] = eps / n_mask
        if best >= 0:
            dist[best] += 1.0 - eps
        if best >= 0 and not draws[0] < eps:
            return best
        return _nth(mask, min(int(draws[1] * n_mask), n_mask - 1))
    if rule == UCB1:
        total = 0.0
        for a in range(k):
            total += counts[a]
        log_t = math.log(max(total, 1.0))
        best = -1
        best_index = 0.0
        for a in range(k):
            if mask[a] and counts[a] > 0.0:
                index = sums[a] / counts[a] + params[0] * math.sqrt(2.0 * log_t / counts[a])
                if best < 0 or index > best_index:
                    best = a
                    best_index = index
        if best < 0:  # every arm with an answer waits for its first reward
            best = first
        dist[best] = 1.0
        return best
    if rule == THOMPSON_BERNOULLI or rule == THOMPSON_GAUSSIAN:
        best = first
        for a in range(k):
            dist[a] = np.nan
            if mask[a] and draws[a] > draws[best]:
                best = a
        return best
    if rule == SOFTMAX:
        top = -np.inf
        for a in range(k):
            if mask[a] and counts[a] > 0.0:
                top = max(top, sums[a] / counts[a] / params[0])
        if top == -np.inf:  # no arm with an answer has a reward kept: uniform
            for a in range(k):
                if mask[a]:
                    dist[a] = 1.0 / n_mask
        else:
            total = 0.0
            for a in range(k):
                if mask[a] and counts[a] > 0.0:
                    dist[a] = math.exp(sums[a] / counts[a] / params[0] - top)
                    total += dist[a]
            for a in range(k):
                dist[a] /= total
        return _sample(dist, draws[0])
    # EXP3
    explore = params[0]
    eta = params[1]
    top = -np.inf
    for a in range(k):
        if mask[a]:
            top = max(top, eta * est_sums[a])
    total = 0.0
    for a in range(k):
        if mask[a]:
            dist[a] = math.exp(eta * est_sums[a] - top)
            total += dist[a]
    for a in range(k):
        if mask[a]:
            dist[a] = (1.0 - explore) * dist[a] / total + explore / n_mask
    return _sample(dist, draws[0])


@njit(cache=True, inline="always")
def _nth(mask: np.ndarray, n: int) -> int:  # pragma: no cover - compiled
    """The ``n``-th arm (from 0) of ``mask``."""
    for a in range(mask.shape[0]):
        if mask[a]:
            if n == 0:
                return a
            n -= 1
    return -1


@njit(cache=True, inline="always")
def _sample(dist: np.ndarray, u: float) -> int:  # pragma: no cover - compiled
    """The arm whose share of the cumulated ``dist`` holds ``u`` (in [0, 1))."""
    total = 0.0
    for a in range(dist.shape[0]):
        total += dist[a]
    x = u * total
    acc = 0.0
    last = -1
    for a in range(dist.shape[0]):
        if dist[a] > 0.0:
            acc += dist[a]
            last = a
            if x < acc:
                return a
    return last
