"""Selection policies: a per-event reference, regret against theory, drift, forced tries,
importance weights, statistics, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from online_models.arm_stats import ArmStats
from online_models.errors import ModelError
from online_models.policies import (
    POLICIES,
    Exp3,
    Policy,
    Softmax,
    Thompson,
    make_policy,
)
from tests.online_models.streams import make_stream, play

ARMS = ["a", "b", "c", "d", "e"]
MEANS = np.array([0.9, 0.6, 0.5, 0.4, 0.3])  # gaps 0.3..0.6: the bound is far below random play


def simulate(policy: Policy, means: np.ndarray, seed: int) -> np.ndarray:
    """Serve Bernoulli arms (``means[t]`` for event t), each label right after its event;
    return the served arms. One batch: the result is the same for any batching."""
    rng = np.random.default_rng(10_000 + seed)
    rewards = (rng.random(means.shape) < means).astype(float)
    n, k = means.shape
    served = policy.run(
        np.tile([0, 1], n), np.ones((n, k), dtype=bool), rewards, np.arange(n),
        np.full(n, -1), np.full(n, np.nan), list(range(n)),
    )  # fmt: skip
    return served.arms


def labels_only(policy: Policy, arms, rewards, probs=None) -> None:
    """Learn labels of events served in earlier batches (rewards: one row per label)."""
    r = np.asarray(rewards, dtype=float)
    n = len(r)
    p = np.full(n, np.nan) if probs is None else np.asarray(probs, dtype=float)
    policy.run(np.ones(n, dtype=np.int8), [], r, np.full(n, -1), np.asarray(arms), p, [0] * n)


def events_only(policy: Policy, n: int, available=None):
    k = len(policy.arms)
    avail = np.ones((n, k), dtype=bool) if available is None else available
    return policy.run(np.zeros(n, dtype=np.int8), avail, [], [], [], [], [])


# --- a plain-Python reference of every rule, written from the documented rules ---------------


class Reference:
    """Per-event rule of each policy, recomputing the statistics from the whole label history
    at every event (closed-form sums for plain and windowed statistics)."""

    def __init__(self, name: str, k: int, seed: int, feedback: str, memory: dict, **params):
        self.name = (
            name if name != "thompson" else f"thompson_{params.get('likelihood', 'bernoulli')}"
        )
        self.k, self.feedback, self.params = k, feedback, params
        self.gamma, self.window = memory.get("gamma"), memory.get("window")
        self.rng = np.random.default_rng(seed)
        self.rows: list[np.ndarray] = []  # one row per label: the values learned
        self.weighted: list[np.ndarray] = []  # Exp3: the estimates' rows
        self.pending: set[int] = set()
        self.chosen = np.zeros(k, dtype=int)
        self.passed_over = np.zeros(k, dtype=int)

    def _stats(self, rows):
        if not rows:
            return np.zeros(self.k), np.zeros(self.k), np.zeros(self.k)
        if self.gamma is not None:
            # the documented recurrence (weights times gamma, then the new row), not the closed
            # form gamma ** age: Beta draws branch on a shape of exactly 1, so the reference
            # must round as the policy does
            c, s, q = np.zeros(self.k), np.zeros(self.k), np.zeros(self.k)
            for row in rows:
                seen = ~np.isnan(row)
                c, s, q = c * self.gamma, s * self.gamma, q * self.gamma
                c[seen] += 1.0
                s[seen] += row[seen]
                q[seen] += row[seen] * row[seen]
            return c, s, q
        r = np.array(rows)
        n = len(r)
        age = n - 1 - np.arange(n)
        if self.window is not None:
            w = (age < self.window).astype(float)
        else:
            w = np.ones(n)
        seen = ~np.isnan(r)
        v = np.where(seen, r, 0.0)
        return (w[:, None] * seen).sum(0), (w[:, None] * v).sum(0), (w[:, None] * v * v).sum(0)

    def event(self, avail, allowed, fallback):
        k = self.k
        counts, sums, squares = self._stats(self.rows)
        means = [sums[a] / counts[a] if counts[a] > 0 else 0.0 for a in range(k)]
        t = int(self.chosen.sum())
        if self.name == "epsilon_greedy":
            u = [self.rng.random(), self.rng.random()]
        elif self.name in ("softmax", "exp3"):
            u = [self.rng.random()]
        elif self.name == "thompson_bernoulli":
            u = [self.rng.beta(1 + sums[a], 1 + counts[a] - sums[a]) for a in range(k)]
        elif self.name == "thompson_gaussian":
            sigma = self.params.get("sigma") or self._pooled_sd(counts, sums, squares)
            u = [sums[a] / (counts[a] + 1) + sigma / math.sqrt(counts[a] + 1)
                 * self.rng.standard_normal() for a in range(k)]  # fmt: skip
        else:
            u = []

        def pick(arms: list[int]) -> tuple[int, list[float]]:
            n = len(arms)
            dist = [0.0] * k
            if self.name in ("epsilon_greedy", "ucb1", "softmax"):
                untried = [a for a in arms if counts[a] == 0 and a not in self.pending]
                if untried:
                    dist[untried[0]] = 1.0
                    return untried[0], dist
            tried = [a for a in arms if counts[a] > 0]
            if self.name == "epsilon_greedy":
                if not tried:
                    for a in arms:
                        dist[a] = 1.0 / n
                    return arms[min(int(u[1] * n), n - 1)], dist
                best = max(tried, key=lambda a: (means[a], -a))
                p = self.params
                eps = max(p.get("min_epsilon", 0.0),
                          p.get("epsilon", 0.1) / (1 + p.get("decay", 0.0) * t))  # fmt: skip
                for a in arms:
                    dist[a] = eps / n + (1 - eps) * (a == best)
                return (arms[min(int(u[1] * n), n - 1)] if u[0] < eps else best), dist
            if self.name == "ucb1":
                if not tried:
                    dist[arms[0]] = 1.0
                    return arms[0], dist
                log_t = math.log(max(counts.sum(), 1.0))
                c = self.params.get("c", 1.0)
                best = max(tried, key=lambda a: (
                    means[a] + c * math.sqrt(2 * log_t / counts[a]), -a))  # fmt: skip
                dist[best] = 1.0
                return best, dist
            if self.name.startswith("thompson"):
                return max(arms, key=lambda a: (u[a], -a)), [math.nan] * k
            if self.name == "softmax":
                tau = self.params.get("tau", 0.1)
                if tried:
                    z = np.array([means[a] / tau for a in tried])
                    w = np.exp(z - z.max())
                    for a, p in zip(tried, w / w.sum()):
                        dist[a] = p
                else:
                    for a in arms:
                        dist[a] = 1.0 / n
            else:  # exp3
                x = self.params.get("explore", 0.1)
                eta = self.params.get("eta") or x / k
                s = self._stats(self.weighted)[1]
                z = np.array([eta * s[a] for a in arms])
                w = np.exp(z - z.max())
                for a, p in zip(arms, w / w.sum()):
                    dist[a] = (1 - x) * p + x / n
            cdf = np.cumsum(dist)
            return int(np.searchsorted(cdf, u[0] * cdf[-1], side="right")), dist

        everyone = list(range(k))
        arms = [a for a in everyone if avail[a]] or everyone
        c, dist = pick(arms)
        if avail.any() and not avail.all():
            would = pick(everyone)[0]
            if not avail[would]:
                self.passed_over[would] += 1
        if self.name in ("epsilon_greedy", "ucb1", "softmax") and counts[c] == 0:
            self.pending.add(c)
        self.chosen[c] += 1

        def serve(a: int) -> int:
            return fallback if fallback >= 0 and not allowed[a] and avail[fallback] else a

        s = serve(c)
        return s, c, sum(d for a, d in enumerate(dist) if d != 0 and serve(a) == s)

    def label(self, rewards, arm, prob):
        if self.feedback == "full":
            row = np.array(rewards, dtype=float)
        else:
            row = np.full(self.k, np.nan)
            row[arm] = rewards[arm]
        self.rows.append(row)
        if self.name == "exp3":
            self.weighted.append(row if self.feedback == "full" else row / prob)
        self.pending -= {a for a in range(self.k) if not np.isnan(row[a])}

    @staticmethod
    def _pooled_sd(counts, sums, squares):
        total = counts.sum()
        if total <= 0:
            return 1.0
        within = sum(squares[a] - sums[a] ** 2 / counts[a] for a in range(len(counts))
                     if counts[a] > 0)  # fmt: skip
        return math.sqrt(within / total) if within > 0 else 1.0

    def play(self, stream, allowed, fallback):
        arms, chosen, probs = [], [], []
        e = j = 0
        for kind in stream.kinds:
            if kind == 0:
                s, c, p = self.event(stream.available[e], allowed, fallback)
                arms.append(s)
                chosen.append(c)
                probs.append(p)
                e += 1
            else:
                ev = stream.label_of[j]
                self.label(stream.rewards[j], arms[ev], probs[ev])
                j += 1
        return np.array(arms), np.array(chosen), np.array(probs)


REFERENCE_CASES = [
    ("epsilon_greedy", dict(epsilon=0.3, decay=0.02, min_epsilon=0.05)),
    ("ucb1", dict(c=0.6)),
    ("thompson", {}),
    ("thompson", dict(likelihood="gaussian")),
    ("softmax", dict(tau=0.15)),
    ("exp3", dict(explore=0.3)),
]


@pytest.mark.parametrize(
    "memory", [{}, {"gamma": 0.97}, {"window": 25}], ids=["plain", "gamma", "window"]
)
@pytest.mark.parametrize("feedback", ["full", "bandit"])
@pytest.mark.parametrize(
    "name,params", REFERENCE_CASES, ids=[f"{n}{i}" for i, (n, _) in enumerate(REFERENCE_CASES)]
)
def test_every_choice_equals_the_per_event_reference(name, params, feedback, memory):
    k = 4
    stream = make_stream(600, [0.6, 0.4, 0.7, 0.5], seed=11, max_delay=8, missing_labels=0.1,
                         unavailable=0.2)  # fmt: skip
    allowed, fallback = np.array([True, True, False, True]), 1
    policy = make_policy(name, ARMS[:k], seed=3, feedback=feedback, **params, **memory)
    ours = play(policy, stream, allowed=allowed, fallback=fallback)
    ref = Reference(name, k, 3, feedback, memory, **params)
    arms, chosen, probs = ref.play(stream, allowed, fallback)
    assert ours.arms.tolist() == arms.tolist()
    assert ours.chosen.tolist() == chosen.tolist()
    if ours.probs is None:
        assert name == "thompson"
    else:
        np.testing.assert_allclose(ours.probs, probs, rtol=1e-12)
    assert policy.chosen.tolist() == ref.chosen.tolist()
    assert policy.passed_over.tolist() == ref.passed_over.tolist()
    assert ref.passed_over.sum() > 0 and len(set(arms.tolist())) == k
    counts, sums, _ = ref._stats(ref.rows)
    np.testing.assert_allclose(policy.stats.counts, counts, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(policy.stats.sums, sums, rtol=1e-12, atol=1e-12)


# --- regret --------------------------------------------------------------------------------


def auer_bound(means: np.ndarray, n: int) -> float:
    """Auer, Cesa-Bianchi & Fischer (2002), Theorem 1: expected regret of UCB1 after n plays."""
    gaps = means.max() - means[means < means.max()]
    return float(np.sum(8.0 * math.log(n) / gaps + (1.0 + math.pi**2 / 3.0) * gaps))


@pytest.mark.parametrize("name", ["ucb1", "thompson"])
def test_regret_below_auer_bound_on_stationary_bernoulli_arms(name):
    horizon, seeds, tail = 5_000, 30, 1_000
    means = np.tile(MEANS, (horizon, 1))
    served = np.array(
        [simulate(make_policy(name, ARMS, seed=s, feedback="bandit"), means, s)
         for s in range(seeds)]
    )  # fmt: skip
    regrets = np.cumsum(MEANS.max() - MEANS[served], axis=1)
    mean_regret = regrets[:, -1].mean()
    bound = auer_bound(MEANS, horizon)
    random_play = horizon * (MEANS.max() - MEANS.mean())
    late = (regrets[:, -1] - regrets[:, -tail - 1]).mean()
    late_bound = bound - auer_bound(MEANS, horizon - tail)
    best_share = (served[:, -tail:] == 0).mean(axis=1)
    print(
        f"{name}: regret {mean_regret:.1f} (bound {bound:.1f}, random play {random_play:.1f}); "
        f"last {tail} events: {late:.1f} (bound's growth {late_bound:.1f}), "
        f"best arm share >= {best_share.min():.3f} in every run"
    )
    assert bound < random_play / 2  # the bound separates learning from not learning
    assert mean_regret < bound
    # regret grows logarithmically (constant exploration fails here) and no run is stuck
    assert late < late_bound
    assert best_share.min() > 0.9


STATIONARY = {
    "epsilon_greedy": dict(epsilon=0.1),
    "ucb1": {},
    "thompson": {},
    "softmax": dict(tau=0.05),
    "exp3": dict(explore=0.05, eta=0.05),
}


@pytest.mark.parametrize("name", sorted(STATIONARY))
def test_the_best_arm_dominates_on_a_stationary_problem(name):
    horizon, seeds = 4_000, 10
    means = np.tile(MEANS, (horizon, 1))
    shares, regrets = [], []
    for s in range(seeds):
        policy = make_policy(name, ARMS, seed=s, feedback="bandit", **STATIONARY[name])
        served = simulate(policy, means, s)
        shares.append(np.mean(served[-1000:] == 0))
        regrets.append(np.sum(MEANS.max() - MEANS[served]))
    random_play = horizon * (MEANS.max() - MEANS.mean())
    print(f"{name}: best arm share {np.mean(shares):.3f}, regret {np.mean(regrets):.0f} "
          f"(random play {random_play:.0f})")  # fmt: skip
    assert min(shares) > 0.8
    assert np.mean(regrets) < random_play / 5


def test_epsilon_greedy_with_decay_learns_the_best_arm():
    horizon, seeds = 5_000, 30
    means = np.tile(MEANS, (horizon, 1))
    last_share, best_greedy = [], 0
    for s in range(seeds):
        policy = make_policy("epsilon_greedy", ARMS, s, epsilon=1.0, decay=0.01,
                             feedback="bandit")  # fmt: skip
        served = simulate(policy, means, s)
        last_share.append(np.mean(served[-1000:] == 0))
        best_greedy += int(np.argmax(policy.means()) == 0)
    assert best_greedy == seeds
    assert np.mean(last_share) > 0.95  # epsilon has decayed to about 2%
    constant = make_policy("epsilon_greedy", ARMS, 0, epsilon=1.0, feedback="bandit")
    assert np.mean(simulate(constant, means, 0)[-1000:] == 0) < 0.3  # keeps playing at random


DRIFT_POLICIES = {
    "epsilon_greedy": dict(epsilon=0.1),
    "ucb1": {},
    "thompson": {},
    "softmax": dict(tau=0.05),
    "exp3": dict(explore=0.1),
}


@pytest.mark.parametrize("name", sorted(DRIFT_POLICIES))
def test_forgetting_policies_switch_faster_after_an_abrupt_change(name):
    # the best arm drops, the second best becomes best: plain averages remember the old order
    before, after = 3_000, 1_000
    means = np.vstack([np.tile([0.8, 0.6, 0.3], (before, 1)), np.tile([0.3, 0.7, 0.3], (after, 1))])
    share = {}
    for memory in ({}, {"gamma": 0.995}, {"window": 300}):
        shares = []
        for s in range(8):
            policy = make_policy(name, ["a", "b", "c"], seed=s, feedback="bandit",
                                 **DRIFT_POLICIES[name], **memory)  # fmt: skip
            shares.append(np.mean(simulate(policy, means, s)[before:] == 1))
        share[next(iter(memory), "plain")] = float(np.mean(shares))
    print(name, "share of the new best arm in the 1000 events after the change:", share)
    assert share["gamma"] > share["plain"] + 0.1
    assert share["window"] > share["plain"] + 0.1
    assert min(share["gamma"], share["window"]) > 0.6


# --- per-event rules -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["epsilon_greedy", "ucb1", "softmax"])
def test_an_untried_arm_is_forced_once_at_its_next_event_with_an_answer(name):
    policy = make_policy(name, ["a", "b", "c"], seed=0)
    available = np.array([[True, False, True]] * 2 + [[True, True, True]] * 3)
    served = events_only(policy, 5, available)
    assert served.arms[:3].tolist() == [0, 2, 1]  # arm 1 waits for an event where it answers
    assert served.probs[:3].tolist() == [1.0, 1.0, 1.0]
    # no reward has come yet: none is forced again; UCB1 serves the lowest, the others draw
    later = events_only(policy, 300)
    if name == "ucb1":
        assert (later.arms == 0).all()
    else:
        assert np.allclose(later.probs, 1 / 3) and set(later.arms.tolist()) == {0, 1, 2}
    labels_only(policy, [0], [[1.0, 0.0, 0.0]])  # full feedback: every arm has a reward now
    assert (policy.stats.counts > 0).all() and not policy._pending.any()


def test_an_arm_out_of_the_window_is_tried_again():
    policy = make_policy("epsilon_greedy", ["a", "b"], epsilon=0.0, window=3, feedback="bandit")
    labels_only(policy, [0, 1], [[0.2, np.nan], [np.nan, 0.9]])
    assert events_only(policy, 2).arms.tolist() == [1, 1]
    labels_only(policy, [1, 1], [[np.nan, 0.9]] * 2)  # arm 0's reward leaves the window
    assert policy.stats.counts.tolist() == [0.0, 3.0]
    served = events_only(policy, 3)
    assert served.arms.tolist() == [0, 1, 1] and served.probs.tolist() == [1.0, 1.0, 1.0]


def test_ucb1_serves_one_arm_between_labels_and_follows_each_label():
    policy = make_policy("ucb1", ["a", "b"], c=0.5, feedback="bandit")
    first = policy.run([0, 0, 1, 1, 0, 0, 0], [[True, True]] * 5, [[0.0, 0.0], [0.0, 1.0]],
                       [0, 1], [-1, -1], [np.nan] * 2, [1, 2])  # fmt: skip
    # two forced tries, then the better arm on every event until the next label
    assert first.arms.tolist() == [0, 1, 1, 1, 1]


def test_a_model_without_an_answer_is_passed_over_and_counted():
    policy = make_policy("ucb1", ["a", "b"], feedback="full")
    labels_only(policy, [0, 0], [[1.0, 0.0], [1.0, 0.0]])
    available = np.array([[True, True], [False, True], [False, False]])
    served = events_only(policy, 3, available)
    assert served.arms.tolist() == [0, 1, 0]  # nobody answers the last one: the policy's choice
    assert policy.summary()["a"]["passed_over"] == 1


def test_the_fallback_serves_an_arm_over_budget_only_where_it_has_an_answer():
    policy = make_policy("epsilon_greedy", ["slow", "fast"], epsilon=0.0)
    labels_only(policy, [0], [[1.0, 0.0]])
    available = np.array([[True, True], [True, False]])
    served = policy.run([0, 0], available, [], [], [], [], [], allowed=[False, True], fallback=1)
    assert served.chosen.tolist() == [0, 0] and served.arms.tolist() == [1, 0]


def test_probs_are_the_served_arms_probabilities_with_the_fallback():
    policy = Softmax(["a", "b", "c"], tau=0.5, seed=1)
    labels_only(policy, [0], [[1.0, 0.0, 0.5]])
    p = policy.probabilities()
    n = 20_000
    served = policy.run(np.zeros(n, np.int8), np.ones((n, 3), bool), [], [], [], [], [],
                        allowed=[True, False, True], fallback=2)  # fmt: skip
    assert np.allclose(np.bincount(served.chosen, minlength=3) / n, p, atol=0.01)
    expected = np.array([p[0], 0.0, p[1] + p[2]])  # b's events go to c
    assert np.allclose(served.probs, expected[served.arms])
    assert (served.arms != 1).all()


@pytest.mark.parametrize("policy_cls", [Softmax, Exp3])
def test_probs_are_the_probabilities_of_the_chosen_arms(policy_cls):
    policy = policy_cls(["a", "b", "c"], seed=1)
    labels_only(policy, [0] * 5, [[1.0, 0.0, 0.5]] * 5)
    p = policy.probabilities()
    served = events_only(policy, 20_000)
    assert np.allclose(served.probs, p[served.arms])
    assert np.allclose(np.bincount(served.arms, minlength=3) / 20_000, p, atol=0.01)


def test_exp3_importance_weights_make_unbiased_reward_estimates():
    policy = Exp3(["a", "b", "c"], explore=1.0, seed=0, feedback="bandit")  # uniform play
    rng = np.random.default_rng(1)
    n = 60_000
    true = np.array([0.7, 0.4, 0.1])
    rewards = (rng.random((n, 3)) < true).astype(float)
    policy.run(np.tile([0, 1], n), np.ones((n, 3), bool), rewards, np.arange(n),
               np.full(n, -1), np.full(n, np.nan), list(range(n)))  # fmt: skip
    estimate = policy.estimates.sums / n
    assert np.abs(estimate - true).max() < 0.03
    assert np.allclose(policy.means(), true, atol=0.02)


def test_exp3_bandit_feedback_requires_probs_and_full_feedback_is_hedge():
    bandit = Exp3(["a", "b"], explore=0.2, eta=0.5, feedback="bandit")
    with pytest.raises(ModelError, match="run\\(label_prob\\)"):
        labels_only(bandit, [0], [[1.0, 0.0]])
    labels_only(bandit, [0], [[np.nan, 0.0]])  # no reward for the served arm: nothing to weigh
    policy = Exp3(["a", "b"], explore=0.2, eta=0.5)
    labels_only(policy, [0, 1], [[1.0, 0.0], [0.5, 0.5]])
    w = np.exp(0.5 * np.array([1.5, 0.5]))
    assert np.allclose(policy.probabilities(), 0.8 * w / w.sum() + 0.1)


def test_softmax_probabilities_follow_boltzmann():
    policy = Softmax(["a", "b", "c"], tau=0.25, feedback="bandit")
    labels_only(policy, [0, 1, 2, 2], [[0.2, 0, 0], [0, 0.5, 0], [0, 0, 1.0], [0, 0, 0.0]])
    z = np.exp(np.array([0.2, 0.5, 0.5]) / 0.25)
    assert np.allclose(policy.probabilities(), z / z.sum())


def test_gaussian_thompson_learns_from_negative_squared_errors():
    policy = Thompson(ARMS, seed=4, likelihood="gaussian", feedback="bandit")
    rng = np.random.default_rng(4)
    centers = np.array([3.0, 1.0, 0.2, 2.0, 1.5])  # mean squared error of each model
    n = 3000
    rewards = -rng.exponential(np.tile(centers, (n, 1)))
    policy.run(np.tile([0, 1], n), np.ones((n, 5), bool), rewards, np.arange(n),
               np.full(n, -1), np.full(n, np.nan), list(range(n)))  # fmt: skip
    assert np.argmax(policy.means()) == 2
    assert policy.chosen[2] > 0.6 * policy.chosen.sum()
    assert 0.1 < policy.noise_scale() < 3.0
    s = policy.stats
    pooled = np.sqrt(np.sum(s.squares - s.sums**2 / s.counts) / s.counts.sum())
    assert policy.noise_scale() == pytest.approx(pooled)


def test_bernoulli_thompson_refuses_rewards_outside_unit_interval():
    with pytest.raises(ModelError, match="likelihood"):
        labels_only(Thompson(ARMS), [0], [[-0.3, 0, 0, 0, 0]])


def test_different_seeds_give_different_choices():
    a = events_only(Thompson(ARMS, seed=1), 50).arms
    b = events_only(Thompson(ARMS, seed=2), 50).arms
    assert not np.array_equal(a, b)


def test_same_seed_gives_the_same_run():
    stream = make_stream(300, [0.5, 0.6, 0.4], seed=9, max_delay=4)
    runs = [play(make_policy("softmax", ARMS[:3], seed=7), stream) for _ in range(2)]
    assert runs[0].arms.tolist() == runs[1].arms.tolist()
    assert runs[0].summary == runs[1].summary
    assert set(runs[0].summary) == set(ARMS[:3])
    assert sum(v["chosen"] for v in runs[0].summary.values()) == 300


# --- statistics ----------------------------------------------------------------------------


@pytest.mark.parametrize("memory", [{"gamma": 0.9}, {"window": 7}, {}])
def test_arm_stats_forget_by_labels_whatever_the_batching(memory):
    rng = np.random.default_rng(0)
    n = 100
    rows = np.where(rng.random((n, 3)) < 0.6, rng.normal(size=(n, 3)), np.nan)
    ages = n - 1 - np.arange(n)  # labels ago
    if "gamma" in memory:
        weights = memory["gamma"] ** ages
    elif "window" in memory:
        weights = (ages < memory["window"]).astype(float)
    else:
        weights = np.ones(n)
    seen = ~np.isnan(rows)
    expected = (weights[:, None] * np.where(seen, rows, 0.0)).sum(0)
    results = []
    for cuts in ([n], [1] * n, [13, 40, 2, 45]):
        stats, start = ArmStats(3, **memory), 0
        for size in cuts:
            stats.add(rows[start : start + size])
            start += size
        assert np.allclose(stats.sums, expected)
        assert np.allclose(stats.counts, (weights[:, None] * seen).sum(0))
        assert stats.steps == n
        results.append((stats.counts.tobytes(), stats.sums.tobytes(), stats.squares.tobytes()))
    assert len(set(results)) == 1  # bit for bit


def test_windowed_totals_are_exact_again_after_each_wrap():
    stats = ArmStats(2, window=10)
    values = np.random.default_rng(2).normal(size=(1000, 2)) * 1e6 + 0.1
    values[::3, 1] = np.nan
    stats.add(values)  # 1000 steps: the ring wrapped, the totals were recomputed in order
    for a in range(2):
        total = square = count = 0.0
        for v in values[-10:, a]:
            if not np.isnan(v):
                total, square, count = total + v, square + v * v, count + 1
        assert (stats.sums[a], stats.squares[a], stats.counts[a]) == (total, square, count)


def test_full_feedback_forgets_per_label_not_per_observation():
    policy = make_policy("ucb1", ["a", "b"], window=3)
    labels_only(policy, [0] * 5, [[1.0, 0.0]] * 5)
    assert policy.stats.counts.tolist() == [3.0, 3.0]


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,params,key",
    [
        ("greedy", {}, "selection.policy"),
        ("ucb1", {"epsilon": 0.1}, "selection.epsilon"),
        ("epsilon_greedy", {"epsilon": 1.5}, "selection.epsilon"),
        ("epsilon_greedy", {"epsilon": "0.1"}, "selection.epsilon"),
        ("epsilon_greedy", {"epsilon": 0.1, "min_epsilon": 0.2}, "selection.min_epsilon"),
        ("ucb1", {"c": 0}, "selection.c"),
        ("ucb1", {"feedback": "partial"}, "selection.feedback"),
        ("softmax", {"tau": -1.0}, "selection.tau"),
        ("exp3", {"explore": 0.0}, "selection.explore"),
        ("exp3", {"eta": 0.0}, "selection.eta"),
        ("thompson", {"likelihood": "poisson"}, "selection.likelihood"),
        ("thompson", {"sigma": 0.0}, "selection.sigma"),
        ("ucb1", {"gamma": 1.0}, "selection.gamma"),
        ("ucb1", {"window": 0}, "selection.window"),
        ("ucb1", {"window": 2.5}, "selection.window"),
        ("ucb1", {"gamma": 0.9, "window": 10}, "selection.gamma and selection.window"),
    ],
)
def test_bad_settings_name_the_key(name, params, key):
    with pytest.raises(ModelError, match=f"^{key}"):
        make_policy(name, ARMS, **params)


def test_bad_arms_are_refused():
    with pytest.raises(ModelError, match="selection.arms"):
        make_policy("ucb1", [])
    with pytest.raises(ModelError, match="selection.arms"):
        make_policy("ucb1", ["a", "a"])


@pytest.mark.parametrize(
    "change,key",
    [
        (dict(kinds=[0, 2]), "run\\(kinds\\)"),
        (dict(available=[[True, True, True]]), "run\\(available\\)"),
        (dict(rewards=[[1.0]]), "run\\(rewards\\)"),
        (dict(rewards=[[np.inf, 1.0]]), "run\\(rewards\\)"),
        (dict(label_event=[1]), "run\\(label_event\\)"),
        (dict(kinds=[1, 0], label_event=[0]), "run\\(label_event\\)"),
        (dict(label_event=[-1], label_arm=[2]), "run\\(label_arm\\)"),
        (dict(label_event=[0.5]), "run\\(label_event\\)"),
        (dict(label_prob=[0.5, 0.5]), "run\\(label_prob\\)"),
        (dict(label_position=[]), "run\\(label_position\\)"),
        (dict(allowed=[True]), "run\\(allowed\\)"),
        (dict(fallback=2), "run\\(fallback\\)"),
    ],
)
def test_bad_runs_are_refused_and_name_the_argument(change, key):
    args = dict(kinds=[0, 1], available=[[True, True]], rewards=[[1.0, 0.0]], label_event=[0],
                label_arm=[-1], label_prob=[np.nan], label_position=[1])  # fmt: skip
    args.update(change)
    with pytest.raises(ModelError, match=key):
        make_policy("ucb1", ["a", "b"]).run(**args)


def test_registry_lists_every_policy():
    assert set(POLICIES) == {"epsilon_greedy", "ucb1", "thompson", "softmax", "exp3"}
    assert all(issubclass(cls, Policy) for cls in POLICIES.values())
