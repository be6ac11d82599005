"""Cutting one stream into batches in several ways, for the batch-invariance tests.

Every stateful part must give bit for bit the same outputs and final state for the same
sequence of items whatever the cut: batches of 1, 7 and 1000 items, and random cuts (with
empty batches among them).
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

CUTS = ("1", "7", "1000", "random")


def bounds(n: int, cut: str, seed: int = 0) -> list[tuple[int, int]]:
    """``(start, stop)`` of each batch of a stream of ``n`` items cut the way ``cut`` says."""
    if cut == "random":
        rng = np.random.default_rng(seed)
        points = np.sort(rng.integers(0, n + 1, size=max(2, n // 50)))
        edges = [0, *points.tolist(), n]
    else:
        size = int(cut)
        edges = [*range(0, n, size), n]
    return list(itertools.pairwise(edges))


def run_cut(
    build: Callable[[], Any], feed: Callable[[Any, int, int], Any], n: int, cut: str
) -> tuple[list[Any], bytes]:
    """Feed items ``[start, stop)`` batch by batch to a fresh object; its outputs and state.

    Args:
        build: makes the object.
        feed: ``feed(obj, start, stop)`` offers items ``start .. stop - 1`` and returns the
            batch's output: an array with one row per item, a list with one entry per item,
            or None.
        n: stream length.
        cut: one of :data:`CUTS`.

    Returns:
        The outputs of the batches joined (arrays concatenated, lists chained, or None), and
        ``pickle.dumps`` of the final object.
    """
    obj = build()
    outputs = [feed(obj, a, b) for a, b in bounds(n, cut)]
    if all(o is None for o in outputs):
        return None, pickle.dumps(obj)
    if all(isinstance(o, np.ndarray) for o in outputs):
        return np.concatenate(outputs), pickle.dumps(obj)
    return list(itertools.chain.from_iterable(outputs)), pickle.dumps(obj)


def check_cut_invariance(
    build: Callable[[], Any], feed: Callable[[Any, int, int], Any], n: int
) -> Any:
    """Assert that every cut of :data:`CUTS` gives the bits of batches of 1; return those."""
    expected, state = run_cut(build, feed, n, "1")
    for cut in CUTS[1:]:
        got, got_state = run_cut(build, feed, n, cut)
        assert same_bits(got, expected), f"outputs differ for cut {cut}"
        assert got_state == state, f"pickled state differs for cut {cut}"
    return expected


def same_bits(a: Any, b: Any) -> bool:
    """Equal bit for bit: arrays of the same dtype and bytes, containers recursively."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and (a.dtype == object and bool((a == b).all()) or a.tobytes() == b.tobytes())
        )
    if isinstance(a, float) and isinstance(b, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_bits, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same_bits(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)
