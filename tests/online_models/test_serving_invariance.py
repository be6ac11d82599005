"""Batch size is a performance knob: every serving rule gives bit-for-bit the same arms,
probabilities, records, summaries and state for one batch, batches of 1 or 7, random cuts,
delayed labels and a pickle round trip mid-stream."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from online_models.arm_stats import ArmStats
from online_models.deployment import make_deployment
from online_models.policies import make_policy
from tests.online_models.streams import Played, make_stream, play, random_cuts

ARMS = ["a", "b", "c"]
POLICIES = [
    ("epsilon_greedy", dict(epsilon=0.2, decay=0.01, min_epsilon=0.01), False),
    ("epsilon_greedy", dict(epsilon=0.3), True),
    ("ucb1", dict(c=0.7), False),
    ("thompson", {}, False),
    ("thompson", dict(likelihood="gaussian"), True),
    ("softmax", dict(tau=0.2), False),
    ("softmax", dict(tau=0.5), True),
    ("exp3", dict(explore=0.2), False),
]
MEMORIES = [{}, {"gamma": 0.95}, {"window": 30}]
BUDGETS = [None, (np.array([True, False, True]), 2)]


def state(obj: Any) -> Any:
    """Everything an object holds, arrays as bytes and generators as their state."""
    if isinstance(obj, np.ndarray):
        return (obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if isinstance(obj, ArmStats):
        return state(vars(obj))
    if isinstance(obj, dict):
        return {k: state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [state(v) for v in obj]
    return obj


def assert_same(a: Played, b: Played) -> None:
    assert a.arms.tolist() == b.arms.tolist()
    assert a.chosen.tolist() == b.chosen.tolist()
    assert (a.probs is None) == (b.probs is None)
    if a.probs is not None:
        assert a.probs.tobytes() == b.probs.tobytes()
    assert a.records == b.records
    assert a.summary == b.summary
    assert state(vars(a.rule)) == state(vars(b.rule))


def cuttings(n_items: int) -> list[tuple[list[int] | None, list[int]]]:
    """(cuts, pickle_at): batches of 1, of 7, random cuts, random cuts with pickling."""
    random = random_cuts(n_items, 3, mean=25)
    return [
        (list(range(n_items)), []),
        (list(range(0, n_items, 7)), []),
        (random, []),
        (random_cuts(n_items, 4, mean=60), random[5::9]),
    ]


def check_invariance(build, stream, budget) -> Played:
    allowed, fallback = budget if budget is not None else (None, -1)
    whole = play(build(), stream, allowed=allowed, fallback=fallback)
    for cuts, pickle_at in cuttings(len(stream.kinds)):
        cut = play(build(), stream, cuts, pickle_at=pickle_at, allowed=allowed, fallback=fallback)
        assert_same(whole, cut)
    return whole


@pytest.mark.parametrize("budget", BUDGETS, ids=["no_budget", "budget"])
@pytest.mark.parametrize("memory", MEMORIES, ids=["plain", "gamma", "window"])
@pytest.mark.parametrize("feedback", ["full", "bandit"])
@pytest.mark.parametrize(
    "name,params,real", POLICIES, ids=[f"{n}{i}" for i, (n, _, _) in enumerate(POLICIES)]
)
def test_policies_are_the_same_for_any_batch_cut(name, params, real, feedback, memory, budget):
    stream = make_stream(
        400, [0.7, 0.5, 0.6], seed=1, max_delay=12, missing_labels=0.1, unavailable=0.15,
        real=real,
    )  # fmt: skip

    def build():
        return make_policy(name, ARMS, seed=5, feedback=feedback, **params, **memory)

    whole = check_invariance(build, stream, budget)
    assert len(set(whole.arms.tolist())) == 3  # the stream exercises every arm
    summary = whole.summary
    assert sum(v["passed_over"] for v in summary.values()) > 0
    # the served arm has an answer whenever any arm has one
    has_any = stream.available.any(axis=1)
    assert stream.available[np.flatnonzero(has_any), whole.arms[has_any]].all()
    if budget is not None:  # arm 1 is over budget: it serves only where the fallback has no answer
        assert (whole.chosen == 1).any()
        assert not stream.available[whole.arms == 1, 2].any()


@pytest.mark.parametrize("budget", BUDGETS, ids=["no_budget", "budget"])
@pytest.mark.parametrize("feedback", ["full", "bandit"])
@pytest.mark.parametrize("mode", ["shadow", "champion_challenger", "canary"])
def test_deployments_are_the_same_for_any_batch_cut(mode, feedback, budget):
    settings = {
        "shadow": dict(window=50),
        "champion_challenger": dict(window=60, min_events=30, check_every=20, alpha=0.2),
        "canary": dict(share=0.4, window=40, min_events=20, margin=0.05),
    }[mode]
    means = {"canary": [0.8, 0.3, 0.8]}.get(mode, [0.45, 0.85, 0.4])
    stream = make_stream(500, means, seed=2, max_delay=12, missing_labels=0.1, unavailable=0.1)

    def build():
        return make_deployment(mode, ARMS, feedback=feedback, **settings)

    whole = check_invariance(build, stream, budget)
    decides = mode == "canary" or (mode == "champion_challenger" and feedback == "full")
    assert len(whole.records) == (1 if decides else 0)
    for record in whole.records:
        assert record["position"] in (stream.label_of + 1).tolist()
    assert sum(m["passed_over"] for m in whole.summary["models"].values()) > 0
