"""Speed of the serving rules' ``run``: events per second on an interleaved item stream.

Not a test (timings are noisy on shared machines; no test asserts a time). Run by hand:

    .venv/bin/python -m tests.online_models.serving_speed [--items 200000] [--repeats 7]

For each rule: 3 arms, ``items`` items alternating an event and its label (so events/s counts
an event and its label), the median of ``repeats`` runs, in one batch and in batches of 1000
items (the Python cost per call included), after a warm-up run that loads the compiled code.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from online_models.deployment import make_deployment
from online_models.policies import make_policy

POLICIES = [
    ("epsilon_greedy", {"epsilon": 0.1}),
    ("ucb1", {}),
    ("thompson", {}),
    ("softmax", {"tau": 0.1}),
    ("exp3", {"explore": 0.1}),
]


def policy(name: str, **params: Any) -> Callable[[], Any]:
    return lambda: make_policy(name, ["a", "b", "c"], 0, **params)


RULES: list[tuple[str, Callable[[], Any]]] = [
    (f"{name} {fb}", policy(name, feedback=fb, **params))
    for name, params in POLICIES
    for fb in ("full", "bandit")
] + [
    ("thompson gaussian full", policy("thompson", likelihood="gaussian")),
    ("ucb1 full window=1000", policy("ucb1", window=1000)),
    ("ucb1 full gamma=0.999", policy("ucb1", gamma=0.999)),
    ("shadow", lambda: make_deployment("shadow", ["a", "b", "c"])),
    (
        "champion_challenger every 100",
        lambda: make_deployment("champion_challenger", ["a", "b", "c"], check_every=100),
    ),  # fmt: skip
    (
        "canary (hashing keys)",
        lambda: make_deployment("canary", ["a", "b", "c"], share=0.1, margin=1.0),
    ),  # fmt: skip
]


def stream(items: int, seed: int = 0) -> dict[str, Any]:
    n = items // 2
    rng = np.random.default_rng(seed)
    return {
        "kinds": np.tile(np.array([0, 1], dtype=np.int8), n),
        "available": np.ones((n, 3), dtype=bool),
        "rewards": (rng.random((n, 3)) < [0.6, 0.5, 0.55]).astype(float),
        "label_event": np.arange(n),
        "label_arm": np.full(n, -1),
        "label_prob": np.full(n, np.nan),
        "label_position": np.arange(1, n + 1),
        "event_keys": [f"user-{i}" for i in range(n)],
    }


def batches(s: dict[str, Any], size: int) -> list[dict[str, Any]]:
    out = []
    n = len(s["kinds"]) // 2
    half = size // 2
    for lo in range(0, n, half):
        hi = min(lo + half, n)
        out.append({
            "kinds": s["kinds"][2 * lo : 2 * hi], "available": s["available"][lo:hi],
            "rewards": s["rewards"][lo:hi], "label_event": s["label_event"][: hi - lo],
            "label_arm": s["label_arm"][lo:hi], "label_prob": s["label_prob"][lo:hi],
            "label_position": s["label_position"][lo:hi], "event_keys": s["event_keys"][lo:hi],
        })  # fmt: skip
    return out


def seconds(build: Callable[[], Any], parts: list[dict[str, Any]]) -> float:
    rule = build()
    started = time.perf_counter()
    for part in parts:
        rule.run(**part)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    s = stream(args.items)
    whole, by_1000 = [s], batches(s, 1000)
    events = args.items // 2
    print(f"{args.items} items ({events} events, each followed by its label), 3 arms, "
          f"median of {args.repeats}")  # fmt: skip
    print(f"{'rule':32} {'one batch':>22} {'batches of 1000':>22}")
    for label, build in RULES:
        seconds(build, by_1000[:2])  # load the compiled code
        cells = []
        for parts in (whole, by_1000):
            t = statistics.median(seconds(build, parts) for _ in range(args.repeats))
            cells.append(f"{events / t / 1e3:8.0f}k ev/s {t / args.items * 1e9:5.0f} ns/it")
        print(f"{label:32} {cells[0]:>22} {cells[1]:>22}")


if __name__ == "__main__":
    main()
