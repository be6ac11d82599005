"""Grouping helpers against brute force on random keys."""

from __future__ import annotations

import numpy as np

from operators.groups import factorize, positions


def test_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 500):
        keys = [None if k == 0 else f"k{k}" for k in rng.integers(0, 12, n).tolist()]
        distinct, codes = factorize(keys)
        assert distinct == list(dict.fromkeys(k for k in keys if k is not None))
        assert codes.tolist() == [-1 if k is None else distinct.index(k) for k in keys]
        groups = positions(codes, len(distinct))
        assert [g.tolist() for g in groups] == [
            [i for i, k in enumerate(keys) if k == d] for d in distinct
        ]
    assert positions(np.array([-1, -1]), 0) == []
