"""reservoir_vs_algorithm_r: our batched Algorithm L reservoir against a plain Algorithm R loop.

Ours: a ``UniformReservoir`` of 10,000 items over 10 million events, fed as numpy ``arange``
batches of 1000 integer positions; Algorithm L's skips jump over the items it does not keep.
Baseline: the textbook Algorithm R loop in pure Python (one ``random.random()`` per event, the
fastest pure-Python form) over the same batches (as Python ints), measured on 2 million events,
which is enough for a steady rate. Each repeat times both; the figures are medians over the
repeats.

Run: ``python -m bench.reservoir``.
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np

from bench.entry import entry
from operators.reservoir import UniformReservoir

__all__ = ["run"]

SIZE = 10_000
BATCH = 1000
OURS_EVENTS = 10_000_000
BASELINE_EVENTS = 2_000_000


def ours(n_events: int, seed: int = 0) -> float:
    """Events per second of UniformReservoir on arange batches."""
    reservoir = UniformReservoir(SIZE, seed)
    start = time.perf_counter()
    for first in range(0, n_events, BATCH):
        reservoir.update(np.arange(first, first + BATCH))
    elapsed = time.perf_counter() - start
    assert reservoir.seen == n_events and len(reservoir.sample()) == SIZE
    return n_events / elapsed


def baseline(n_events: int, seed: int = 0) -> float:
    """Events per second of Algorithm R in pure Python on the same batches."""
    rand = random.Random(seed).random
    sample: list[int] = []
    seen = 0
    start = time.perf_counter()
    for first in range(0, n_events, BATCH):
        for item in np.arange(first, first + BATCH).tolist():
            if seen < SIZE:
                sample.append(item)
            else:
                j = int(rand() * (seen + 1))
                if j < SIZE:
                    sample[j] = item
            seen += 1
    elapsed = time.perf_counter() - start
    assert len(sample) == SIZE
    return n_events / elapsed


def run(repeats: int = 5) -> dict[str, dict[str, Any]]:
    """Measure both ``repeats`` times and report the medians (events per second)."""
    measured = [(ours(OURS_EVENTS, r), baseline(BASELINE_EVENTS, r)) for r in range(repeats)]
    return entry(
        "reservoir_vs_algorithm_r",
        [m[0] for m in measured],
        [m[1] for m in measured],
        target=1,
        baseline_is="pure-Python Algorithm R (random.random per event) over the same arange "
        "batches of 1000, 2M events; ours: UniformReservoir (Algorithm L) of 10,000 "
        "over 10M events",
    )


if __name__ == "__main__":
    print(run())
