"""Selection policies: regret against theory, drift, batching, repeatability, errors."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from online_models.arm_stats import ArmStats
from online_models.errors import ModelError
from online_models.policies import (
    POLICIES,
    UCB1,
    EpsilonGreedy,
    Exp3,
    Policy,
    Softmax,
    Thompson,
    make_policy,
)

ARMS = ["a", "b", "c", "d", "e"]
MEANS = np.array([0.9, 0.6, 0.5, 0.4, 0.3])  # gaps 0.3..0.6: the bound is far below random play


def simulate(policy: Policy, means: np.ndarray, batch: int, seed: int) -> np.ndarray:
    """Serve Bernoulli arms (``means[t]`` for event t) with bandit feedback; return the arms."""
    rng = np.random.default_rng(10_000 + seed)
    rewards = (rng.random(means.shape) < means).astype(float)
    served = np.empty(len(means), dtype=np.int64)
    rows = np.arange(batch)
    for start in range(0, len(means), batch):
        arms = policy.choose(batch)
        policy.update(arms, rewards[start + rows, arms], policy.last_probs)
        served[start : start + batch] = arms
    return served


def auer_bound(means: np.ndarray, n: int) -> float:
    """Auer, Cesa-Bianchi & Fischer (2002), Theorem 1: expected regret of UCB1 after n plays."""
    gaps = means.max() - means[means < means.max()]
    return float(np.sum(8.0 * math.log(n) / gaps + (1.0 + math.pi**2 / 3.0) * gaps))


@pytest.mark.parametrize(
    "make",
    [lambda seed: UCB1(ARMS, seed=seed), lambda seed: Thompson(ARMS, seed=seed)],
    ids=["ucb1", "thompson"],
)
def test_regret_below_auer_bound_on_stationary_bernoulli_arms(make):
    horizon, seeds, tail = 5_000, 30, 1_000
    means = np.tile(MEANS, (horizon, 1))
    served = np.array([simulate(make(s), means, 1, s) for s in range(seeds)])
    regrets = np.cumsum(MEANS.max() - MEANS[served], axis=1)
    mean_regret = regrets[:, -1].mean()
    bound = auer_bound(MEANS, horizon)
    random_play = horizon * (MEANS.max() - MEANS.mean())
    late = (regrets[:, -1] - regrets[:, -tail - 1]).mean()
    late_bound = bound - auer_bound(MEANS, horizon - tail)
    best_share = (served[:, -tail:] == 0).mean(axis=1)
    print(
        f"regret {mean_regret:.1f} (bound {bound:.1f}, random play {random_play:.1f}); "
        f"last {tail} events: {late:.1f} (bound's growth {late_bound:.1f}), "
        f"best arm share >= {best_share.min():.3f} in every run"
    )
    assert bound < random_play / 2  # the bound separates learning from not learning
    assert mean_regret < bound
    # regret grows logarithmically (constant exploration fails here) and no run is stuck
    assert late < late_bound
    assert best_share.min() > 0.9


def test_epsilon_greedy_with_decay_learns_the_best_arm():
    horizon, seeds = 5_000, 30
    means = np.tile(MEANS, (horizon, 1))
    last_share, best_greedy = [], 0
    for s in range(seeds):
        policy = EpsilonGreedy(ARMS, epsilon=1.0, seed=s, decay=0.01)
        served = simulate(policy, means, 10, s)
        last_share.append(np.mean(served[-1000:] == 0))
        best_greedy += int(np.argmax(policy.means()) == 0)
    assert best_greedy == seeds
    assert np.mean(last_share) > 0.95  # epsilon has decayed to about 2%
    constant = EpsilonGreedy(ARMS, epsilon=1.0, seed=0)  # no decay: keeps playing at random
    assert np.mean(simulate(constant, means, 10, 0)[-1000:] == 0) < 0.3


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
            policy = make_policy(name, ["a", "b", "c"], seed=s, **DRIFT_POLICIES[name], **memory)
            shares.append(np.mean(simulate(policy, means, 10, s)[before:] == 1))
        share[next(iter(memory), "plain")] = float(np.mean(shares))
    print(name, "share of the new best arm in the 1000 events after the change:", share)
    assert share["gamma"] > share["plain"] + 0.1
    assert share["window"] > share["plain"] + 0.1
    assert min(share["gamma"], share["window"]) > 0.6


def test_ucb1_batch_equals_sequential_ucb1_with_hallucinated_pulls():
    policy = UCB1(ARMS, c=0.5)
    rng = np.random.default_rng(3)
    arms = rng.integers(0, 5, 40)
    policy.update(arms, (rng.random(40) < 0.5).astype(float))
    counts, means = policy.stats.counts.copy(), policy.means()
    expected = []
    for _ in range(200):
        bonus = np.sqrt(2 * math.log(policy.stats.counts.sum()) / counts)
        arm = int(np.argmax(means + 0.5 * bonus))
        expected.append(arm)
        counts[arm] += 1
    assert policy.choose(200).tolist() == expected
    assert len(set(expected)) > 1  # the batch is spread over arms, not all on one
    assert UCB1(ARMS).choose(7).tolist() == [0, 1, 2, 3, 4, 0, 1]  # untried arms first


def test_exp3_importance_weights_make_unbiased_reward_estimates():
    policy = Exp3(["a", "b", "c"], explore=1.0, seed=0)  # uniform play: weights stay flat
    rng = np.random.default_rng(1)
    n = 60_000
    arms = policy.choose(n)
    true = np.array([0.7, 0.4, 0.1])
    policy.update(arms, (rng.random(n) < true[arms]).astype(float), policy.last_probs)
    estimate = policy.estimates.sums / n
    assert np.abs(estimate - true).max() < 0.03
    assert np.allclose(policy.means(), true, atol=0.02)


def test_exp3_bandit_feedback_requires_probs_and_full_feedback_is_hedge():
    policy = Exp3(["a", "b"], explore=0.2, eta=0.5)
    with pytest.raises(ModelError, match="update\\(probs\\)"):
        policy.update([0], [1.0])
    policy.update_full([[1.0, 0.0], [0.5, 0.5]])
    w = np.exp(0.5 * np.array([1.5, 0.5]))
    assert np.allclose(policy.probabilities(), 0.8 * w / w.sum() + 0.1)


@pytest.mark.parametrize("policy_cls", [Softmax, Exp3])
def test_last_probs_are_the_probabilities_of_the_chosen_arms(policy_cls):
    policy = policy_cls(["a", "b", "c"], seed=1)
    policy.update_full([[1.0, 0.0, 0.5]] * 5)
    p = policy.probabilities()
    arms = policy.choose(20_000)
    assert np.allclose(policy.last_probs, p[arms])
    assert np.allclose(np.bincount(arms, minlength=3) / 20_000, p, atol=0.01)


def test_softmax_probabilities_follow_boltzmann():
    policy = Softmax(["a", "b", "c"], tau=0.25)
    policy.update([0, 1, 2, 2], [0.2, 0.5, 1.0, 0.0])
    z = np.exp(np.array([0.2, 0.5, 0.5]) / 0.25)
    assert np.allclose(policy.probabilities(), z / z.sum())


def test_gaussian_thompson_learns_from_negative_squared_errors():
    policy = Thompson(ARMS, seed=4, likelihood="gaussian")
    rng = np.random.default_rng(4)
    centers = np.array([3.0, 1.0, 0.2, 2.0, 1.5])  # mean squared error of each model
    for _ in range(300):
        arms = policy.choose(10)
        policy.update(arms, -rng.exponential(centers[arms]))
    assert np.argmax(policy.means()) == 2
    assert policy.chosen[2] > 0.6 * policy.chosen.sum()
    assert 0.1 < policy.noise_scale() < 3.0


def test_bernoulli_thompson_refuses_rewards_outside_unit_interval():
    with pytest.raises(ModelError, match="likelihood"):
        Thompson(ARMS).update([0], [-0.3])


ALL = [
    ("epsilon_greedy", dict(epsilon=0.2, decay=0.01, min_epsilon=0.01)),
    ("ucb1", dict(c=0.7)),
    ("thompson", {}),
    ("thompson", dict(likelihood="gaussian")),
    ("softmax", dict(tau=0.2)),
    ("exp3", dict(explore=0.2)),
]
MEMORIES = [{}, {"gamma": 0.95}, {"window": 30}]


def drive(policy: Policy, batches: int, rng: np.random.Generator, full: bool) -> list[list[int]]:
    """Choose and learn for a few batches; inputs are read-only, so any mutation raises."""
    out = []
    for _ in range(batches):
        arms = policy.choose(int(rng.integers(1, 20)))
        out.append(arms.tolist())
        if full:
            rewards = (rng.random((len(arms), len(policy.arms))) < 0.5).astype(float)
            rewards.flags.writeable = False
            policy.update_full(rewards)
        else:
            rewards = (rng.random(len(arms)) < 0.5).astype(float)
            probs = np.full(len(arms), 0.5) if policy.last_probs is None else policy.last_probs
            for a in (arms, rewards, probs):
                a.flags.writeable = False
            policy.update(arms, rewards, probs)
    return out


@pytest.mark.parametrize("full", [False, True], ids=["bandit", "full"])
@pytest.mark.parametrize("memory", MEMORIES, ids=["plain", "discounted", "windowed"])
@pytest.mark.parametrize("name,params", ALL, ids=[f"{n}{i}" for i, (n, _) in enumerate(ALL)])
def test_pickle_mid_run_and_same_seed_give_identical_choices(name, params, memory, full):
    policy = make_policy(name, ARMS, seed=7, **params, **memory)
    drive(policy, 10, np.random.default_rng(1), full)
    clone = pickle.loads(pickle.dumps(policy))
    assert drive(clone, 10, np.random.default_rng(2), full) == drive(
        policy, 10, np.random.default_rng(2), full
    )
    twin = make_policy(name, ARMS, seed=7, **params, **memory)
    rerun = make_policy(name, ARMS, seed=7, **params, **memory)
    assert drive(twin, 20, np.random.default_rng(5), full) == drive(
        rerun, 20, np.random.default_rng(5), full
    )
    assert twin.summary() == rerun.summary()
    assert set(twin.summary()) == set(ARMS)
    assert sum(v["chosen"] for v in twin.summary().values()) == twin.chosen.sum()


def test_different_seeds_give_different_choices():
    a = Thompson(ARMS, seed=1).choose(50)
    b = Thompson(ARMS, seed=2).choose(50)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("memory", [{"gamma": 0.9}, {"window": 7}])
def test_arm_stats_forget_by_events_whatever_the_batching(memory):
    rng = np.random.default_rng(0)
    n = 100
    arms, vals = rng.integers(0, 3, n), rng.random(n)
    ages = n - 1 - np.arange(n)  # events ago
    if "gamma" in memory:
        weights = memory["gamma"] ** ages
    else:
        weights = (ages < memory["window"]).astype(float)
    expected = np.bincount(arms, weights * vals, minlength=3)
    for cuts in ([n], [1] * n, [13, 40, 2, 45]):
        stats, start = ArmStats(3, **memory), 0
        for size in cuts:
            sl = slice(start, start + size)
            stats.add(arms[sl], vals[sl], np.arange(size), size)
            start += size
        assert np.allclose(stats.sums, expected)
        assert np.allclose(stats.counts, np.bincount(arms, weights, minlength=3))


def test_full_feedback_forgets_per_event_not_per_observation():
    policy = UCB1(["a", "b"], window=3)
    policy.update_full([[1.0, 0.0]] * 5)
    assert policy.stats.counts.tolist() == [3.0, 3.0]


def test_epsilon_greedy_keeps_its_original_interface():
    policy = EpsilonGreedy(["a", "b"], 0.0, 1)
    policy.update([0, 1, 1], [0.0, 1.0, 1.0])
    assert policy.choose(3).tolist() == [1, 1, 1]
    assert policy.chosen.tolist() == [0, 3]
    assert policy.means().tolist() == [0.0, 1.0]
    assert policy.summary()["b"]["chosen"] == 3


@pytest.mark.parametrize(
    "name,params,key",
    [
        ("greedy", {}, "selection.policy"),
        ("ucb1", {"epsilon": 0.1}, "selection.epsilon"),
        ("epsilon_greedy", {"epsilon": 1.5}, "selection.epsilon"),
        ("epsilon_greedy", {"epsilon": "0.1"}, "selection.epsilon"),
        ("epsilon_greedy", {"epsilon": 0.1, "min_epsilon": 0.2}, "selection.min_epsilon"),
        ("ucb1", {"c": 0}, "selection.c"),
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


def test_bad_arms_and_inputs_are_refused():
    with pytest.raises(ModelError, match="selection.arms"):
        make_policy("ucb1", [])
    with pytest.raises(ModelError, match="selection.arms"):
        make_policy("ucb1", ["a", "a"])
    policy = UCB1(ARMS)
    with pytest.raises(ModelError, match="update\\(arms\\)"):
        policy.update([5], [1.0])
    with pytest.raises(ModelError, match="update\\(rewards\\)"):
        policy.update([0], [float("nan")])
    with pytest.raises(ModelError, match="update\\(rewards\\)"):
        policy.update([0, 1], [1.0])
    with pytest.raises(ModelError, match="update_full\\(rewards\\)"):
        policy.update_full([[1.0, 0.0]])
    with pytest.raises(ModelError, match="update\\(probs\\)"):
        policy.update([0], [1.0], [0.0])
    with pytest.raises(ModelError, match="choose\\(n\\)"):
        policy.choose(-1)


def test_registry_lists_every_policy():
    assert set(POLICIES) == {"epsilon_greedy", "ucb1", "thompson", "softmax", "exp3"}
    assert all(issubclass(cls, Policy) for cls in POLICIES.values())
