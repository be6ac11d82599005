"""Checks shared by the model side's constructors and batch inputs.

Every check raises :class:`~online_models.errors.ModelError` with a message that names the
setting (``key``) and what was expected, so configuration errors stop a job at start.

>>> number("selection.epsilon", 0.1, low=0.0, high=1.0)
0.1
>>> number("selection.epsilon", 2, low=0.0, high=1.0)
Traceback (most recent call last):
...
online_models.errors.ModelError: selection.epsilon: expected a number in [0.0, 1.0], got 2
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from online_models.errors import ModelError

__all__ = ["number", "integer", "names", "name_index", "arm_indices", "values", "construct"]


def number(
    key: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite number within the bounds.

    Args:
        key: the setting's name, used in the error message.
        value: the value to check (bools are refused).
        low: lower bound.
        high: upper bound.
        low_open: exclude ``low`` itself.
        high_open: exclude ``high`` itself.

    Returns:
        The value as a float.
    """
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        x = float(value)
        ok = (
            math.isfinite(x)
            and (x > low if low_open else x >= low)
            and (x < high if high_open else x <= high)
        )
    if not ok:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ModelError(f"{key}: expected a number in {lo}{low}, {high}{hi}, got {value!r}")
    return float(value)


def integer(key: str, value: Any, *, low: int = 0) -> int:
    """Return ``value`` after checking it is an integer (not a bool) that is at least ``low``.

    >>> integer("selection.window", 100, low=1)
    100
    """
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ModelError(f"{key}: expected an integer >= {low}, got {value!r}")
    return int(value)


def names(key: str, values: Sequence[str]) -> list[str]:
    """Return ``values`` as a list after checking it is a non-empty list of distinct strings.

    >>> names("selection.models", ["a", "b"])
    ['a', 'b']
    """
    out = list(values) if not isinstance(values, (str, bytes)) else []
    if not out or not all(isinstance(v, str) for v in out) or len(set(out)) != len(out):
        raise ModelError(f"{key}: expected a non-empty list of distinct names, got {values!r}")
    return out


def name_index(key: str, value: Any, known: Sequence[str]) -> int:
    """Return the position of ``value`` in ``known``.

    >>> name_index("canary.canary", "b", ["a", "b"])
    1
    """
    if value not in known:
        raise ModelError(f"{key}: expected one of {list(known)}, got {value!r}")
    return list(known).index(value)


def arm_indices(key: str, arms: Sequence[int] | np.ndarray, n_arms: int) -> np.ndarray:
    """Return ``arms`` as a 1-D int64 array after checking every entry is in ``[0, n_arms)``.

    >>> arm_indices("arms", [0, 2], 3).tolist()
    [0, 2]
    """
    idx = np.asarray(arms)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise ModelError(f"{key}: expected a 1-D sequence of arm indices, got shape {idx.shape}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < 0 or idx.max() >= n_arms):
        raise ModelError(
            f"{key}: expected arm indices in [0, {n_arms}), got {idx.min()}..{idx.max()}"
        )
    return idx


def values(
    key: str,
    x: Sequence[Any] | np.ndarray,
    shape: tuple[int | None, ...],
    *,
    allow_nan: bool = False,
) -> np.ndarray:
    """Return ``x`` as a float array of ``shape`` (None: any length); finite, or NaN if allowed.

    >>> values("rewards", [[1, 0.5]], (None, 2)).tolist()
    [[1.0, 0.5]]
    """
    arr = np.asarray(x, dtype=float)
    if arr.ndim != len(shape) or any(
        s is not None and s != a for s, a in zip(shape, arr.shape, strict=False)
    ):
        raise ModelError(f"{key}: expected shape {shape}, got {arr.shape}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        kind = "finite or NaN" if allow_nan else "finite"
        raise ModelError(f"{key}: expected {kind} numbers, got {arr[bad][0]!r}")
    return arr


def construct(
    section: str, kind_key: str, registry: Mapping[str, type], kind: str, *args: Any, **params: Any
) -> Any:
    """Build ``registry[kind](*args, **params)``, checking the kind and every setting's name.

    Args:
        section: the configuration section, prefix of the settings' names in errors.
        kind_key: the setting that names the kind (e.g. ``"selection.policy"``).
        registry: the known kinds.
        kind: the kind to build.
        *args: positional arguments (not settings, e.g. the model names).
        **params: the settings.

    >>> class Box:
    ...     def __init__(self, name: str, size: int = 1) -> None:
    ...         self.size = size
    >>> construct("box", "box.kind", {"box": Box}, "box", "b", size=2).size
    2
    >>> construct("box", "box.kind", {"box": Box}, "box", "b", sise=2)
    Traceback (most recent call last):
    ...
    online_models.errors.ModelError: box.sise: not a setting of 'box'; expected one of ['size']
    """
    cls = registry.get(kind)
    if cls is None:
        raise ModelError(f"{kind_key}: expected one of {sorted(registry)}, got {kind!r}")
    params_of = inspect.signature(cls).parameters
    positional = list(params_of)[: len(args)]
    known = sorted(set(params_of) - set(positional) - {"self"})
    for key in params:
        if key not in known:
            raise ModelError(f"{section}.{key}: not a setting of {kind!r}; expected one of {known}")
    return cls(*args, **params)
