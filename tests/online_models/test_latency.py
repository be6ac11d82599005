"""Latency budget: admission, fallback, smoothing, expiry and the reward cost."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from online_models.errors import ModelError
from online_models.latency import LatencyBudget
from online_models.policies import UCB1

MODELS = ["forest", "tree", "linear"]


def test_slow_candidates_fall_back_and_the_fallback_always_serves():
    budget = LatencyBudget(MODELS, budget_ms=0.1, fallback="linear")
    assert budget.allowed().all()  # nothing measured yet
    # per event: 0.5, 0.05 and 0.2 ms (the fallback is over budget too, and serves anyway)
    assert budget.observe([50.0, 5.0, 20.0], events=100).tolist() == [False, True, True]
    policy = UCB1(MODELS)  # its first three choices are the three untried arms, then arm 0
    available = np.ones((5, 3), dtype=bool)
    available[4, 2] = False  # the fallback has no answer for the last event: the forest serves
    served = policy.run(np.zeros(5, np.int8), available, [], [], [], [], [],
                        allowed=budget.allowed(), fallback=budget.fallback_index)  # fmt: skip
    assert served.chosen.tolist() == [0, 1, 2, 0, 0]
    assert served.arms.tolist() == [2, 1, 2, 2, 0]
    assert budget.count_fallbacks(served) == 2 and budget.fallbacks == 2
    summary = budget.summary()
    assert summary["models"]["forest"] == {"latency_ms": 0.5, "allowed": False}
    assert summary["fallbacks"] == 2 and summary["fallback"] == "linear"


def test_budget_is_per_event_whatever_the_batch_size():
    small, large = (LatencyBudget(MODELS, 0.1, "linear") for _ in range(2))
    small.observe([0.9, 0.1, 0.01], events=10)
    large.observe([90.0, 10.0, 1.0], events=1000)
    assert np.allclose(small.latency_ms, large.latency_ms)
    assert small.allowed().tolist() == large.allowed().tolist() == [True, True, True]


def test_smoothing_absorbs_one_slow_batch_and_follows_a_lasting_change():
    budget = LatencyBudget(MODELS, 1.2, "linear", smoothing=0.2)
    for _ in range(10):
        budget.observe([50.0, 10.0, 1.0], events=100)  # forest: 0.5 ms per event
    assert budget.observe([300.0, 10.0, 1.0], events=100)[0]  # one 3 ms batch: 0.4 + 0.6
    expected = 0.2 * 3.0 + 0.8 * 0.5
    assert budget.latency_ms[0] == pytest.approx(expected)
    for _ in range(5):
        allowed = budget.observe([300.0, 10.0, 1.0], events=100)
    assert not allowed[0]


def test_unmeasured_estimates_expire_so_a_candidate_gets_another_chance():
    budget = LatencyBudget(MODELS, 0.1, "linear", expire_after=3)
    budget.observe([100.0, 1.0, 1.0], events=100)
    for _ in range(2):
        assert not budget.observe([np.nan, 1.0, 1.0], events=100)[0]
    assert budget.observe([np.nan, 1.0, 1.0], events=100)[0]
    keep = LatencyBudget(MODELS, 0.1, "linear")
    keep.observe([100.0, 1.0, 1.0], events=100)
    for _ in range(10):
        assert not keep.observe([np.nan, 1.0, 1.0], events=100)[0]


def test_latency_cost_is_subtracted_from_rewards_in_both_feedback_modes():
    budget = LatencyBudget(MODELS, 10.0, "linear", cost_per_ms=0.5)
    budget.observe([40.0, np.nan, 2.0], events=100)  # 0.4, unknown, 0.02 ms per event
    full = np.array([[1.0, 1.0, 1.0], [0.0, np.nan, 1.0]])
    full.flags.writeable = False
    assert np.allclose(
        budget.penalize(full), [[0.8, 1.0, 0.99], [-0.2, np.nan, 0.99]], equal_nan=True
    )
    assert np.allclose(budget.penalize([1.0, 1.0, 0.0], arms=[0, 2, 1]), [0.8, 0.99, 0.0])


def test_a_policy_learns_to_avoid_a_costly_model():
    # equal accuracy, but "forest" costs 0.3 reward per event: UCB1 moves to the cheap ones
    budget = LatencyBudget(MODELS, 100.0, "linear", cost_per_ms=0.1)
    budget.observe([300.0, 10.0, 10.0], events=100)
    policy = UCB1(MODELS, feedback="bandit")
    rng = np.random.default_rng(0)
    n = 3000
    rewards = budget.penalize((rng.random((n, 3)) < 0.8).astype(float))  # full matrix: every arm
    policy.run(np.tile([0, 1], n), np.ones((n, 3), bool), rewards, np.arange(n), np.full(n, -1),
               np.full(n, np.nan), list(range(n)))  # fmt: skip
    assert policy.chosen[0] < 0.1 * policy.chosen.sum()


def test_pickle_round_trip_keeps_the_state():
    budget = LatencyBudget(MODELS, 0.1, "linear", smoothing=0.5, expire_after=4)
    budget.observe([100.0, 1.0, 1.0], events=100)
    clone = pickle.loads(pickle.dumps(budget))
    for b in (budget, clone):
        b.observe([np.nan, 5.0, 1.0], events=100)
    assert clone.summary() == budget.summary()


@pytest.mark.parametrize(
    "params,key",
    [
        (dict(budget_ms=0.0, fallback="linear"), "latency.budget_ms"),
        (dict(budget_ms=1.0, fallback="gbm"), "latency.fallback"),
        (dict(budget_ms=1.0, fallback="linear", smoothing=0.0), "latency.smoothing"),
        (dict(budget_ms=1.0, fallback="linear", cost_per_ms=-1.0), "latency.cost_per_ms"),
        (dict(budget_ms=1.0, fallback="linear", expire_after=0), "latency.expire_after"),
    ],
)
def test_bad_settings_name_the_key(params, key):
    with pytest.raises(ModelError, match=f"^{key}"):
        LatencyBudget(MODELS, **params)


def test_bad_measurements_are_refused():
    budget = LatencyBudget(MODELS, 1.0, "linear")
    with pytest.raises(ModelError, match="observe\\(batch_ms\\)"):
        budget.observe([1.0, 2.0], events=10)
    with pytest.raises(ModelError, match="observe\\(batch_ms\\)"):
        budget.observe([1.0, -2.0, 1.0], events=10)
    with pytest.raises(ModelError, match="observe\\(events\\)"):
        budget.observe([1.0, 2.0, 1.0], events=0)
    with pytest.raises(ModelError, match="penalize\\(arms\\)"):
        budget.penalize([1.0], arms=[3])
