"""Outlier clipping before the running statistics: one extreme value must not poison them.

A running mean and variance (the ``standard`` scaler) or minimum and maximum (``minmax``) are
moved for good by one value of ``1e15`` among values of order 1: every later value is scaled
to about 0, and a model trained on such features loses what it knew. :class:`OutlierClip`
guards each numeric column with its own running mean and standard deviation of the values it
let through: once a column has ``warmup`` values, a value more than ``k`` standard deviations
from the mean is clipped to that bound (and counted) before it reaches the imputer, the scaler
and the model. The guard learns the clipped value, so a real shift of the column's level still
moves the bound (each clipped value widens it), only slower.

Row by row in stream order, in a compiled loop: the output and the counts are a function of the
sequence of values only, whatever the batch cut. NaN (missing) passes through. A column whose
values so far are all equal (standard deviation 0) is not clipped: a constant column would
otherwise stay clipped to its constant forever.

>>> c = OutlierClip(k=3.0, warmup=4)
>>> x = np.array([[1.0], [2.0], [3.0], [2.0], [1e15], [np.nan], [2.5]])
>>> c.transform_then_learn(x).ravel().round(3).tolist()
[1.0, 2.0, 3.0, 2.0, 4.121, nan, 2.5]
>>> c.clipped.tolist()
[1]
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from operators.errors import check_float, check_int

__all__ = ["OutlierClip", "WARMUP"]

WARMUP = 100
"""Values a column learns as they are before its bound is trusted."""


@njit(cache=True)
def _clip(
    x: np.ndarray,
    k: float,
    warmup: float,
    count: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    clipped: np.ndarray,
    out: np.ndarray,
) -> None:
    n, d = x.shape
    for i in range(n):
        for j in range(d):
            v = x[i, j]
            if np.isnan(v):
                out[i, j] = v
                continue
            if count[j] >= warmup and var[j] > 0.0:
                bound = k * math.sqrt(var[j])
                if v > mean[j] + bound:
                    v = mean[j] + bound
                    clipped[j] += 1
                elif v < mean[j] - bound:
                    v = mean[j] - bound
                    clipped[j] += 1
            out[i, j] = v
            count[j] += 1.0
            old = mean[j]
            mean[j] += (v - old) / count[j]
            var[j] += ((v - old) * (v - mean[j]) - var[j]) / count[j]


class OutlierClip:
    """Clip each column's values beyond ``k`` running standard deviations of its mean.

    Args:
        k: the bound, in standard deviations of the values let through so far (> 0).
        warmup: values per column learned as they are before clipping starts (>= 1).

    Attributes:
        clipped: values clipped so far, per column.
    """

    def __init__(self, k: float, warmup: int = WARMUP) -> None:
        self.k = check_float("OutlierClip", "k", k, 0.0)
        self.warmup = check_int("OutlierClip", "warmup", warmup, minimum=1)
        self.count = np.zeros(0)
        self.mean = np.zeros(0)
        self.var = np.zeros(0)
        self.clipped = np.zeros(0, dtype=np.int64)

    def transform_then_learn(self, matrix: np.ndarray) -> np.ndarray:
        """The batch with its outliers clipped, each row against the values before it."""
        x = np.ascontiguousarray(matrix, dtype=np.float64)
        if len(self.count) == 0:
            d = x.shape[1]
            self.count, self.mean, self.var = np.zeros(d), np.zeros(d), np.zeros(d)
            self.clipped = np.zeros(d, dtype=np.int64)
        out = np.empty_like(x)
        _clip(x, self.k, float(self.warmup), self.count, self.mean, self.var, self.clipped, out)
        return out
