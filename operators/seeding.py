"""Deterministic seeds and generators derived from an operator's ``seed``.

Operators that own several random parts (one reservoir per stratum, one sketch per column)
give each part a child seed, and merges draw from a generator built from both inputs, so that
the same seeds and inputs always give the same result and no input's generator is advanced.

>>> child_seed(0, 1) == child_seed(0, 1) != child_seed(0, 2)
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["child_seed", "merge_generator"]


def child_seed(seed: int, i: int) -> int:
    """The ``i``-th independent child seed of ``seed`` (from numpy's SeedSequence spawning).

    Args:
        seed: the parent seed (>= 0).
        i: the child's index (>= 0).

    Returns:
        A seed in ``[0, 2**32)``.

    >>> 0 <= child_seed(42, 3) < 2**32
    True
    """
    return int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1)[0])


def merge_generator(*parts: int) -> np.random.Generator:
    """A generator for a merge, seeded by both inputs' seeds and counts.

    Args:
        *parts: non-negative integers describing the inputs (seeds, counts).

    Returns:
        A new numpy Generator.

    >>> float(merge_generator(1, 2, 3).random()) == float(merge_generator(1, 2, 3).random())
    True
    """
    return np.random.default_rng(list(parts))
