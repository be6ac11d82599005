"""Deployment modes: canary routing and rollback, champion/challenger promotion, shadow; each
decision checked against a per-label reference at its exact label."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from online_models.deployment import (
    DEPLOYMENTS,
    Canary,
    ChampionChallenger,
    Deployment,
    Shadow,
    make_deployment,
    stable_units,
)
from online_models.errors import ModelError
from online_models.serving import Served
from tests.online_models.streams import make_stream, play

KEYS = [f"user-{i}" for i in range(100_000)]
ROOT = Path(__file__).resolve().parents[2]


def routed(deployment: Deployment, keys: list, available=None) -> np.ndarray:
    """The models serving events with these keys (no labels)."""
    n, k = len(keys), len(deployment.models)
    avail = np.ones((n, k), dtype=bool) if available is None else available
    return deployment.run(np.zeros(n, np.int8), avail, [], [], [], [], [], event_keys=keys).arms


def inline(deployment: Deployment, rewards, keys=None, first: int = 1) -> Served:
    """Events each followed by its label; positions count events from ``first``."""
    r = np.asarray(rewards, dtype=float)
    n, k = r.shape
    return deployment.run(
        np.tile(np.array([0, 1], np.int8), n), np.ones((n, k), bool), r, np.arange(n),
        np.full(n, -1), np.full(n, np.nan), list(range(first, first + n)), event_keys=keys,
    )  # fmt: skip


def bernoulli_rewards(rng: np.random.Generator, n: int, means: list[float]) -> np.ndarray:
    return (rng.random((n, len(means))) < np.array(means)).astype(float)


# --- canary --------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [0.05, 0.3])
def test_canary_share_of_100k_keys_is_within_one_point(share):
    served = routed(Canary(["main", "trial"], share=share), KEYS)
    assert abs(served.mean() - share) < 0.01
    assert set(np.unique(served)) == {0, 1}


def test_a_key_always_meets_the_same_model():
    canary = Canary(["main", "trial", "other"], share=0.2, canary="other", salt="exp-7")
    first = routed(canary, KEYS)
    assert np.array_equal(routed(canary, KEYS), first)
    assert np.array_equal(routed(pickle.loads(pickle.dumps(canary)), KEYS), first)
    reordered = np.concatenate([routed(canary, KEYS[50_000:]), routed(canary, KEYS[:50_000])])
    assert np.array_equal(reordered, np.roll(first, -50_000))
    assert set(np.unique(first)) == {0, 2}
    # another salt draws another set of keys, about independent of the first
    other = routed(Canary(["main", "trial"], share=0.2, salt="exp-8"), KEYS) == 1
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


def blake(data: bytes, salt: bytes) -> float:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, key=salt).digest(), "big") / 2**64


def test_stable_units_are_keyed_blake2b_of_the_key_bytes():
    units = stable_units(["héllo", b"\x00\xff", 12, np.int64(12)], "salt")
    expected = [blake(s, b"salt") for s in ("héllo".encode(), b"\x00\xff", b"12", b"12")]
    assert units.tolist() == expected
    with pytest.raises(ModelError, match="canary key"):
        stable_units([1.5], "salt")  # type: ignore[list-item]


def canary_reference(stream, share, window, min_events, margin, salt=""):
    """Per item: route by the key's hash, score the served model, check after every label."""
    to_canary = [blake(key.encode(), salt.encode()) < share for key in stream.keys]
    arms, windows = [], {0: deque(maxlen=window), 1: deque(maxlen=window)}
    rolled_back_at = None
    j = 0
    for kind in stream.kinds:
        if kind == 0:
            arms.append(1 if to_canary[len(arms)] and rolled_back_at is None else 0)
            continue
        event = stream.label_of[j]
        arm = arms[event]
        windows[arm].append(float(stream.rewards[j, arm]))
        j += 1
        trial, main = windows[1], windows[0]
        if rolled_back_at is None and min(len(trial), len(main)) >= min_events:
            if sum(trial) / len(trial) - sum(main) / len(main) < -margin:
                rolled_back_at = int(event) + 1
    return np.array(arms), rolled_back_at


@pytest.mark.parametrize("seed", range(8))
def test_rollback_fires_at_the_exact_label_on_a_bad_canary_and_never_on_an_equal_one(seed):
    settings = dict(share=0.2, window=1000, min_events=500, margin=0.08)
    for means, rolls in (([0.8, 0.6], True), ([0.8, 0.8], False), ([0.8, 0.78], False)):
        stream = make_stream(12_000, means, seed, max_delay=30, missing_labels=0.05)
        cuts = list(range(0, len(stream.kinds), 500))
        played = play(Canary(["main", "trial"], **settings), stream, cuts)
        arms, position = canary_reference(stream, **settings)
        assert played.arms.tolist() == arms.tolist()
        assert (position is not None) == rolls
        if not rolls:
            assert played.records == []
            continue
        (rec,) = played.records
        assert (rec["kind"], rec["from"], rec["to"], rec["p_value"]) == (
            "rollback", "trial", "main", None,
        )  # fmt: skip
        assert rec["position"] == position  # the position of the label that decided
        assert rec["statistic"] == pytest.approx(rec["canary_mean"] - rec["champion_mean"])
        assert rec["statistic"] < -0.08 and rec["canary_events"] >= 500
        json.dumps(rec)  # ready for a JSON sink


def test_after_rollback_every_key_meets_the_champion_and_nothing_more_is_emitted():
    canary = Canary(["main", "trial"], share=0.5, window=50, min_events=50, margin=0.1)
    rewards = np.column_stack([np.ones(400), np.zeros(400)])
    served = inline(canary, rewards, KEYS[:400])
    assert [r["kind"] for r in served.records] == ["rollback"]
    decided = served.records[0]["position"]  # the label of event `decided` (from 1)
    assert served.arms[:decided].any() and not served.arms[decided:].any()
    assert not routed(canary, KEYS[:1000]).any()
    assert inline(canary, rewards, KEYS[:400]).records == []
    summary = canary.summary()
    assert summary["rolled_back"] and summary["serving"] == "main" and summary["canary"] == "trial"


def test_a_canary_without_an_answer_is_passed_over_to_the_champion():
    canary = Canary(["main", "trial"], share=0.5)
    keys = KEYS[:200]
    to_trial = stable_units(keys) < 0.5
    available = np.ones((200, 2), dtype=bool)
    available[::2, 1] = False
    arms = routed(canary, keys, available)
    assert arms.tolist() == np.where(to_trial & available[:, 1], 1, 0).tolist()
    passed_over = int((to_trial & ~available[:, 1]).sum())
    assert canary.summary()["models"]["trial"]["passed_over"] == passed_over


# --- champion / challenger -----------------------------------------------------------------


def run_challenge(seed: int, means: list[float], events: int, **params):
    rng = np.random.default_rng(seed)
    names = [f"m{i}" for i in range(len(means))]
    deployment = ChampionChallenger(names, **params)
    records = []
    for start in range(0, events, 500):
        records += inline(deployment, bernoulli_rewards(rng, 500, means), first=start + 1).records
    return records, deployment


def test_a_clearly_better_challenger_is_promoted_once_enough_labels_are_in():
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
        assert routed(deployment, ["k"]).tolist() == [1]


def test_an_equal_challenger_is_promoted_at_most_at_the_alpha_rate():
    alpha, seeds = 0.05, 1_000
    # two checks on disjoint windows: at most 1 - (1 - alpha / 2) ** 2 < alpha per run
    false = sum(
        bool(run_challenge(s, [0.8, 0.8], 2_000, alpha=alpha, window=1000)[0]) for s in range(seeds)
    )
    print(f"false promotions: {false} of {seeds} runs at alpha {alpha}")
    assert false / seeds < alpha + 3 * np.sqrt(alpha * (1 - alpha) / seeds)


def test_min_gain_stops_equal_challengers_over_a_long_run():
    # the gain of an equal challenger over 2000 labels has a standard error of 0.0126
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
    records = inline(deployment, -(errors**2)).records
    assert [(r["from"], r["to"], r["position"]) for r in records] == [("a", "b", 2000)]


def challenge_reference(stream, k, alpha, window, min_events, check_every, min_gain):
    """Per label: the sliding window of reward rows, a test every ``check_every`` labels once
    ``min_events`` are in (scipy's exact binomial test), the window restarting at a promotion.
    Returns ``(label index, from, to, p-value)`` per promotion."""
    champion, rows, since, decisions = 0, deque(maxlen=window), 0, []
    for j, row in enumerate(stream.rewards):
        rows.append(row)
        since += 1
        if since < check_every or len(rows) < min_events:
            continue
        since = 0
        r = np.array(rows)
        best = None
        for m in range(k):
            if m == champion:
                continue
            b = int(np.sum(r[:, champion] > r[:, m]))
            c = int(np.sum(r[:, m] > r[:, champion]))
            p = stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
            d = r[:, m] - r[:, champion]
            gain = float(np.mean(d[~np.isnan(d)]))
            if c > b and p < alpha / (k - 1) and gain >= min_gain and (best is None or p < best[1]):
                best = (m, p)
        if best is not None:
            decisions.append((j, champion, best[0], best[1]))
            champion = best[0]
            rows.clear()
    return decisions


@pytest.mark.parametrize("seed", range(4))
def test_promotions_are_those_of_the_per_label_reference(seed):
    settings = dict(alpha=0.05, window=300, min_events=150, check_every=50, min_gain=0.01)
    stream = make_stream(4_000, [0.6, 0.68, 0.76], seed, max_delay=25, unavailable=0.05)
    cuts = sorted(np.random.default_rng(seed).integers(0, len(stream.kinds), 60).tolist())
    played = play(ChampionChallenger(["m0", "m1", "m2"], **settings), stream, cuts)
    expected = challenge_reference(stream, 3, **settings)
    assert expected and expected[-1][2] == 2  # the best model ends up serving
    got = [(r["position"], r["from"], r["to"]) for r in played.records]
    assert got == [(int(stream.label_of[j]) + 1, f"m{a}", f"m{b}") for j, a, b, _ in expected]
    assert np.allclose([r["p_value"] for r in played.records], [e[3] for e in expected],
                       rtol=1e-10)  # fmt: skip
    # every event after a promotion's label, none before, meets the new champion
    promoted = {j: to for j, _, to, _ in expected}
    champion, route, e, j = 0, [], 0, 0
    for kind in stream.kinds:
        if kind == 0:
            route.append(champion)
            e += 1
        else:
            champion = promoted.get(j, champion)
            j += 1
    route = np.array(route)
    answers = stream.available[np.arange(stream.n_events), route]
    assert (played.chosen[answers] == route[answers]).all()
    assert played.summary["promotions"] == len(expected)


# --- shadow and feedback -------------------------------------------------------------------


def test_shadow_serves_the_champion_and_scores_everyone():
    rng = np.random.default_rng(1)
    shadow = Shadow(["live", "s1", "s2"], champion="s1", window=300)
    r = bernoulli_rewards(rng, 1000, [0.5, 0.6, 0.9])
    r[rng.random(r.shape) < 0.1] = np.nan  # some models could not predict
    for start in range(0, 1000, 200):
        served = inline(shadow, r[start : start + 200], first=start + 1)
        assert (served.arms == 1).all() and served.records == []
    summary = shadow.summary()
    assert summary["serving"] == "s1" and summary["events"] == 1000
    for m, name in enumerate(["live", "s1", "s2"]):
        col = r[:, m][np.isfinite(r[:, m])]
        model = summary["models"][name]
        assert model["mean_reward"] == pytest.approx(col.mean())
        assert model["window_mean_reward"] == pytest.approx(col[-300:].mean())
        assert model["window_events"] == 300 and model["events"] == col.size
    served_col = r[:, 1][np.isfinite(r[:, 1])]
    assert summary["served"]["mean_reward"] == pytest.approx(served_col.mean())
    assert summary["models"]["s1"]["served"] == 1000 and summary["models"]["live"]["served"] == 0
    json.dumps(summary)


def test_bandit_feedback_scores_only_the_served_model():
    shadow = Shadow(["live", "other"], feedback="bandit")
    inline(shadow, [[1.0, 0.0]] * 10)
    models = shadow.summary()["models"]
    assert models["live"]["events"] == 10 and models["other"]["events"] == 0
    challenge = ChampionChallenger(["a", "b"], window=10, min_events=10, feedback="bandit")
    assert inline(challenge, [[0.0, 1.0]] * 100).records == []  # b is never scored


@pytest.mark.parametrize("mode", sorted(DEPLOYMENTS))
def test_inputs_are_not_mutated(mode):
    stream = make_stream(300, [0.8, 0.5, 0.9], seed=3, max_delay=5, unavailable=0.1)
    deployment = make_deployment(mode, ["a", "b", "c"])
    cuts = list(range(0, len(stream.kinds), 50))
    frozen = play(deployment, stream, cuts, freeze=True)  # read-only arrays: writing raises
    assert (
        frozen.arms.tolist() == play(make_deployment(mode, ["a", "b", "c"]), stream).arms.tolist()
    )


# --- errors --------------------------------------------------------------------------------


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
        ("shadow", {"feedback": "some"}, "selection.feedback"),
    ],
)
def test_bad_settings_name_the_key(mode, params, key):
    with pytest.raises(ModelError, match=f"^{key}"):
        make_deployment(mode, ["a", "b"], **params)


def test_bad_runs_are_refused():
    deployment = Shadow(["a", "b"])
    with pytest.raises(ModelError, match="run\\(label_arm\\)"):
        deployment.run([1], [], [[1.0, 1.0]], [-1], [2], [np.nan], [1])
    with pytest.raises(ModelError, match="run\\(rewards\\)"):
        deployment.run([1], [], [[1.0]], [-1], [0], [np.nan], [1])
    with pytest.raises(ModelError, match="run\\(rewards\\)"):
        deployment.run([1], [], [[np.inf, 1.0]], [-1], [0], [np.nan], [1])
    with pytest.raises(ModelError, match="run\\(label_position\\)"):
        deployment.run([1], [], [[1.0, 1.0]], [-1], [0], [np.nan], [1, 2])
    with pytest.raises(ModelError, match="run\\(event_keys\\)"):
        Canary(["a", "b"]).run([0], [[True, True]], [], [], [], [], [])
    with pytest.raises(ModelError, match="deployment.models"):
        ChampionChallenger(["only"])
    assert deployment.run([], [], [], [], [], [], []).records == []
