"""Deployment modes: canary routing and rollback, champion/challenger promotion, shadow."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from online_models.deployment import (
    DEPLOYMENTS,
    Canary,
    ChampionChallenger,
    Shadow,
    make_deployment,
    stable_units,
)
from online_models.errors import ModelError

KEYS = [f"user-{i}" for i in range(100_000)]
ROOT = Path(__file__).resolve().parents[2]


def bernoulli_rewards(rng: np.random.Generator, n: int, means: list[float]) -> np.ndarray:
    return (rng.random((n, len(means))) < np.array(means)).astype(float)


@pytest.mark.parametrize("share", [0.05, 0.3])
def test_canary_share_of_100k_keys_is_within_one_point(share):
    served = Canary(["main", "trial"], share=share).route(KEYS)
    assert abs(served.mean() - share) < 0.01
    assert set(np.unique(served)) == {0, 1}


def test_a_key_always_meets_the_same_model():
    canary = Canary(["main", "trial", "other"], share=0.2, canary="other", salt="exp-7")
    first = canary.route(KEYS)
    assert np.array_equal(canary.route(KEYS), first)
    assert np.array_equal(pickle.loads(pickle.dumps(canary)).route(KEYS), first)
    reordered = np.concatenate([canary.route(KEYS[50_000:]), canary.route(KEYS[:50_000])])
    assert np.array_equal(reordered, np.roll(first, -50_000))
    assert set(np.unique(first)) == {0, 2}
    # another salt draws another set of keys, about independent of the first
    other = Canary(["main", "trial"], share=0.2, salt="exp-8").route(KEYS) == 1
    assert abs(np.mean(other & (first == 2)) - 0.04) < 0.005


def test_routing_is_the_same_in_another_process_with_another_hash_seed():
    keys = KEYS[:2_000] + list(range(500))
    script = (
        "import json, sys; from online_models.deployment import stable_units; "
        "keys = json.load(sys.stdin); print(json.dumps(stable_units(keys, 's').tolist()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(keys),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)},
    )
    assert json.loads(out.stdout) == stable_units(keys, "s").tolist()


def test_stable_units_are_keyed_blake2b_of_the_key_bytes():
    def direct(data: bytes) -> float:
        digest = hashlib.blake2b(data, digest_size=8, key=b"salt").digest()
        return int.from_bytes(digest, "big") / 2.0**64

    units = stable_units(["héllo", b"\x00\xff", 12, np.int64(12)], "salt")
    expected = [direct("héllo".encode()), direct(b"\x00\xff"), direct(b"12"), direct(b"12")]
    assert units.tolist() == expected
    with pytest.raises(ModelError, match="canary key"):
        stable_units([1.5], "salt")  # type: ignore[list-item]


def run_canary(seed: int, means: list[float], events: int = 20_000, batch: int = 500) -> list:
    """Route by key, score the served model only; return the records."""
    rng = np.random.default_rng(seed)
    canary = Canary(["main", "trial"], share=0.2, window=1000, min_events=500, margin=0.08)
    records = []
    for start in range(0, events, batch):
        keys = KEYS[(seed * 7919 + start) % 90_000 :][:batch]
        served = canary.route(keys)
        rewards = bernoulli_rewards(rng, batch, means)
        rewards[np.arange(batch), 1 - served] = np.nan  # only the served model is scored
        positions = list(range(start, start + batch))
        records += canary.update(served, rewards, positions)
    return records


def test_rollback_fires_on_a_bad_canary_and_never_on_an_equal_one():
    for seed in range(20):
        records = run_canary(seed, [0.8, 0.6])
        assert len(records) == 1, seed
        rec = records[0]
        assert (rec["kind"], rec["from"], rec["to"], rec["p_value"]) == (
            "rollback",
            "trial",
            "main",
            None,
        )
        assert rec["statistic"] == pytest.approx(rec["canary_mean"] - rec["champion_mean"])
        assert rec["statistic"] < -0.08 and rec["canary_events"] >= 500
        assert rec["position"] % 500 == 499  # the last event of the batch that decided
        json.dumps(rec)  # ready for a JSON sink
        assert run_canary(seed, [0.8, 0.8]) == []
        assert run_canary(seed, [0.8, 0.78]) == []  # behind, but within the margin


def test_after_rollback_every_key_meets_the_champion_and_nothing_more_is_emitted():
    canary = Canary(["main", "trial"], share=0.5, window=50, min_events=50, margin=0.1)
    served = canary.route(KEYS[:400])
    rewards = np.column_stack([np.ones(400), np.zeros(400)])
    assert [r["kind"] for r in canary.update(served, rewards)] == ["rollback"]
    assert not canary.route(KEYS[:1000]).any()
    assert canary.update(canary.route(KEYS[:400]), rewards) == []
    summary = canary.summary()
    assert summary["rolled_back"] and summary["serving"] == "main" and summary["canary"] == "trial"


def run_challenge(seed: int, means: list[float], events: int, **params) -> tuple[list, object]:
    rng = np.random.default_rng(seed)
    names = [f"m{i}" for i in range(len(means))]
    deployment = ChampionChallenger(names, **params)
    records = []
    for _ in range(0, events, 500):
        served = deployment.route([None] * 500)
        records += deployment.update(served, bernoulli_rewards(rng, 500, means))
    return records, deployment


def test_a_clearly_better_challenger_is_promoted_once_enough_events_are_in():
    for seed in range(20):
        records, deployment = run_challenge(
            seed, [0.75, 0.85, 0.7], 6_000, alpha=0.01, window=1000, min_events=1000
        )
        assert len(records) == 1, seed  # and the new champion is never demoted
        rec = records[0]
        assert (rec["kind"], rec["from"], rec["to"], rec["position"]) == (
            "promotion",
            "m0",
            "m1",
            1000,
        )
        assert rec["p_value"] < 0.01 / 2 and rec["events"] == 1000
        assert rec["challenger_better"] > rec["champion_better"]
        assert rec["statistic"] == min(rec["champion_better"], rec["challenger_better"])
        assert rec["gain"] == pytest.approx(
            (rec["challenger_better"] - rec["champion_better"]) / 1000
        )
        assert deployment.serving == "m1"
        assert deployment.route(["k"]).tolist() == [1]


def test_an_equal_challenger_is_promoted_at_most_at_the_alpha_rate():
    alpha, seeds = 0.05, 1_000
    # two checks on disjoint windows: at most 1 - (1 - alpha / 2) ** 2 < alpha per run
    false = sum(
        bool(run_challenge(s, [0.8, 0.8], 2_000, alpha=alpha, window=1000)[0]) for s in range(seeds)
    )
    print(f"false promotions: {false} of {seeds} runs at alpha {alpha}")
    assert false / seeds < alpha + 3 * np.sqrt(alpha * (1 - alpha) / seeds)


def test_min_gain_stops_equal_challengers_over_a_long_run():
    # the gain of an equal challenger over 2000 events has a standard error of 0.0126
    for seed in range(30):
        records, _ = run_challenge(
            seed, [0.8, 0.8, 0.8], 20_000, alpha=0.05, window=2000, min_gain=0.05
        )
        assert records == []
    records, _ = run_challenge(0, [0.75, 0.85], 4_000, window=2000, min_gain=0.05)
    assert [r["to"] for r in records] == ["m1"]


def test_real_valued_rewards_use_the_sign_test():
    rng = np.random.default_rng(0)
    errors = np.abs(rng.normal(0, [1.0, 0.7], size=(2000, 2)))
    deployment = ChampionChallenger(["a", "b"], window=2000, min_events=2000)
    records = deployment.update(np.zeros(2000, dtype=int), -(errors**2))
    assert [(r["from"], r["to"]) for r in records] == [("a", "b")]


def test_shadow_serves_the_champion_and_scores_everyone():
    rng = np.random.default_rng(1)
    shadow = Shadow(["live", "s1", "s2"], champion="s1", window=300)
    all_rewards = []
    for _ in range(5):
        served = shadow.route(["k"] * 200)
        assert (served == 1).all()
        rewards = bernoulli_rewards(rng, 200, [0.5, 0.6, 0.9])
        rewards[rng.random(rewards.shape) < 0.1] = np.nan  # some models could not predict
        assert shadow.update(served, rewards) == []
        all_rewards.append(rewards)
    r = np.vstack(all_rewards)
    summary = shadow.summary()
    assert summary["serving"] == "s1" and summary["events"] == 1000
    for m, name in enumerate(["live", "s1", "s2"]):
        col = r[:, m][np.isfinite(r[:, m])]
        stats = summary["models"][name]
        assert stats["mean_reward"] == pytest.approx(col.mean())
        assert stats["window_mean_reward"] == pytest.approx(col[-300:].mean())
        assert stats["window_events"] == 300 and stats["events"] == col.size
    served_col = r[:, 1][np.isfinite(r[:, 1])]
    assert summary["served"]["mean_reward"] == pytest.approx(served_col.mean())
    assert summary["models"]["s1"]["served"] == 1000 and summary["models"]["live"]["served"] == 0
    json.dumps(summary)


@pytest.mark.parametrize("mode", sorted(DEPLOYMENTS))
def test_pickle_mid_run_gives_identical_future_and_inputs_are_not_mutated(mode):
    params = {
        "shadow": dict(window=400),
        "champion_challenger": dict(window=400, min_events=200, check_every=200),
        "canary": dict(share=0.3, window=200, min_events=100, margin=0.05),
    }[mode]

    def feed(deployment, seed: int, means: list[float]) -> list:
        rng = np.random.default_rng(seed)
        out = []
        for b in range(8):
            keys = KEYS[b * 100 : b * 100 + 100]
            served = deployment.route(keys)
            rewards = bernoulli_rewards(rng, 100, means)
            for a in (served, rewards):
                a.flags.writeable = False
            out.append((served.tolist(), deployment.update(served, rewards)))
        return out + [deployment.summary()]

    deployment = make_deployment(mode, ["a", "b", "c"], **params)
    assert [r for _, batch in feed(deployment, 0, [0.8, 0.8, 0.8])[:-1] for r in batch] == []
    clone = pickle.loads(pickle.dumps(deployment))
    future = feed(clone, 1, [0.8, 0.5, 0.95])
    assert future == feed(deployment, 1, [0.8, 0.5, 0.95])
    records = [r for _, batch in future[:-1] for r in batch]
    assert len(records) == (0 if mode == "shadow" else 1)  # the future holds a decision


@pytest.mark.parametrize(
    "mode,params,key",
    [
        ("blue_green", {}, "deployment.mode"),
        ("canary", {"alpha": 0.1}, "deployment.alpha"),
        ("canary", {"share": 1.0}, "deployment.share"),
        ("canary", {"canary": "a"}, "deployment.canary"),
        ("canary", {"canary": "z"}, "deployment.canary"),
        ("canary", {"salt": "x" * 65}, "deployment.salt"),
        ("canary", {"margin": -0.1}, "deployment.margin"),
        ("canary", {"window": 10, "min_events": 20}, "deployment.min_events"),
        ("champion_challenger", {"alpha": 0.0}, "deployment.alpha"),
        ("champion_challenger", {"method": "z"}, "mcnemar\\(method\\)"),
        ("champion_challenger", {"check_every": 0}, "deployment.check_every"),
        ("champion_challenger", {"min_gain": -1}, "deployment.min_gain"),
        ("champion_challenger", {"champion": "q"}, "deployment.champion"),
        ("shadow", {"window": 0}, "deployment.window"),
    ],
)
def test_bad_settings_name_the_key(mode, params, key):
    with pytest.raises(ModelError, match=f"^{key}"):
        make_deployment(mode, ["a", "b"], **params)


def test_bad_batches_are_refused():
    deployment = Shadow(["a", "b"])
    with pytest.raises(ModelError, match="update\\(served\\)"):
        deployment.update([2], [[1.0, 1.0]])
    with pytest.raises(ModelError, match="update\\(rewards\\)"):
        deployment.update([0], [[1.0]])
    with pytest.raises(ModelError, match="update\\(rewards\\)"):
        deployment.update([0], [[np.inf, 1.0]])
    with pytest.raises(ModelError, match="update\\(positions\\)"):
        deployment.update([0], [[1.0, 1.0]], positions=[1, 2])
    with pytest.raises(ModelError, match="deployment.models"):
        ChampionChallenger(["only"])
    assert deployment.update([], np.zeros((0, 2))) == []
