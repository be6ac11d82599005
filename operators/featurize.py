"""Turning a batch of events into a feature matrix: impute, scale, encode, once per batch.

:class:`FeatureSpec` says which fields are numeric and which categorical and how to treat them;
:class:`Featurizer` keeps the state (imputers, scaler, vocabularies) and turns each batch, given
as columns (:meth:`Featurizer.transform_then_learn`: a float matrix of the numeric fields and an
object matrix of the categorical ones), into ``(names, matrix)``.

Semantics, per row, in stream order (the prequential order of a River pipeline's
``predict_one``): a numeric value that is missing (NaN or infinite) is imputed, then scaled,
each time with statistics of the rows before it; a categorical value is one-hot encoded with
the capped vocabulary rule of :mod:`operators.encoding` or hashed. ``mean`` imputation and the
``standard`` and ``minmax`` scalers learn one row at a time; ``median`` and ``most_frequent``
imputation and the ``robust`` and ``quantile_bins`` scalers learn in blocks of
``sketch_block`` rows fixed by stream position (see :mod:`operators.scaling`). The matrix and
the featurizer's state are therefore bit for bit the same whatever the cut of the stream into
batches. The matrix always has the same columns (:attr:`Featurizer.names` only renames one-hot
placeholder slots as categories fill them), so a feature that appears late or disappears is
simply missing on some rows.

Columns, in order: the numeric fields; ``f"{name}__missing"`` per numeric field (if
``numeric_indicator``); the one-hot columns of each categorical field (``max_categories + 1``
each) or the ``hash_width`` hashed columns; ``f"{name}__missing"`` per categorical field (if
``categorical_indicator``). River models take dicts: ``FeatureBlock(names, matrix,
featurizer.sparse).dicts()`` (:mod:`operators.records`) leaves out the zero one-hot and hashed
entries, as River's OneHotEncoder does.

>>> spec = FeatureSpec(numeric=("x",), categorical=("color",), max_categories=2)
>>> f = Featurizer(spec)
>>> numeric = np.array([[1.0], [np.nan], [3.0]])
>>> categorical = np.array([["red"], ["blue"], [None]], dtype=object)
>>> names, matrix = f.transform_then_learn(numeric, categorical)
>>> names
('x', 'color=red', 'color=blue', 'color=__other__')
>>> matrix.tolist()
[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
>>> from operators.records import FeatureBlock
>>> FeatureBlock(names, matrix, f.sparse).dicts()[1]
{'x': 0.0, 'color=blue': 1.0}
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from operators.clipping import OutlierClip
from operators.encoding import FeatureHasher, OneHotEncoder
from operators.errors import OperatorError, check_choice, check_float, check_int
from operators.imputation import STRATEGIES, Imputer
from operators.scaling import (
    MinMaxScaler,
    QuantileBinner,
    RobustScaler,
    SignedLog1p,
    StandardScaler,
)
from operators.seeding import child_seed

__all__ = ["SCALERS", "FeatureSpec", "Featurizer"]

SCALERS = ("standard", "minmax", "log", "robust", "quantile_bins", "none")

_Scaler = StandardScaler | MinMaxScaler | SignedLog1p | RobustScaler | QuantileBinner


@dataclass(frozen=True)
class FeatureSpec:
    """What to compute from the events: which fields, how imputed, scaled and encoded.

    Attributes:
        numeric: names of the numeric fields.
        categorical: names of the categorical fields (values are encoded as ``str(value)``).
        impute: imputation strategy by numeric field (``mean``, ``median``, ``most_frequent``,
            ``constant``); fields not listed use ``impute_default``.
        impute_default: the strategy of the numeric fields not in ``impute``.
        fill_value: the value of the ``constant`` strategy, and of the others while a field
            has no statistics yet (None: 0.0; required if any field uses ``constant``).
        scaler: ``standard``, ``minmax``, ``log`` (signed log1p), ``robust`` (median and
            interquartile range), ``quantile_bins`` (bin index) or ``none``.
        clip: outlier clipping: ``standard`` clips to +-clip standard deviations, ``robust``
            to +-clip interquartile ranges, ``minmax`` (any value) to [0, 1]; None: no clip.
        outlier_std: with the ``standard`` and ``minmax`` scalers, whose running statistics
            one extreme value would poison, a raw value more than this many running standard
            deviations from its column's mean is clipped to that bound before the imputer,
            the scaler and the models see it (:class:`~operators.clipping.OutlierClip`); 0:
            off (River's scalers have no such guard).
        bins: the number of bins of ``quantile_bins``.
        max_categories: one-hot columns of their own per categorical field.
        min_count: occurrences a category needs before it gets its own column.
        hash_width: if set, categorical fields are hashed into this many shared columns
            instead of one-hot encoded.
        numeric_indicator: add a missingness indicator column per numeric field.
        categorical_indicator: add a missingness indicator column per categorical field.
        sketch_k: accuracy parameter of the quantile sketches (median, robust, bins).
        sketch_block: rows per block of the statistics learned in blocks (median and
            most_frequent imputation, robust and quantile_bins scaling) once the stream is
            that long; the first blocks are 1, 1, 2, 4, ... rows (:mod:`operators.scaling`).
        seed: the seed every random part (sketches, hashing) derives its seed from.

    >>> FeatureSpec(numeric=("a",), scaler="zscore")
    Traceback (most recent call last):
    ...
    operators.errors.OperatorError: FeatureSpec: scaler must be one of 'standard', 'minmax', \
'log', 'robust', 'quantile_bins', 'none', got 'zscore'
    """

    numeric: Sequence[str] = ()
    categorical: Sequence[str] = ()
    impute: Mapping[str, str] = field(default_factory=dict)
    impute_default: str = "mean"
    fill_value: float | None = None
    scaler: str = "standard"
    clip: float | None = None
    outlier_std: float = 10.0
    bins: int = 10
    max_categories: int = 32
    min_count: int = 1
    hash_width: int | None = None
    numeric_indicator: bool = False
    categorical_indicator: bool = False
    sketch_k: int = 200
    sketch_block: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        owner = "FeatureSpec"
        object.__setattr__(self, "numeric", tuple(self.numeric))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        object.__setattr__(self, "impute", dict(self.impute))
        names = [*self.numeric, *self.categorical]
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) < len(names):
            message = (
                f"{owner}: numeric and categorical must be distinct non-empty field names, "
                f"got {self.numeric!r} and {self.categorical!r}"
            )
            raise OperatorError(message)
        unknown = sorted(set(self.impute) - set(self.numeric))
        if unknown:
            message = f"{owner}: impute names fields that are not numeric: {unknown!r}"
            raise OperatorError(message)
        check_choice(owner, "impute_default", self.impute_default, STRATEGIES)
        for name, strategy in self.impute.items():
            check_choice(owner, f"impute[{name!r}]", strategy, STRATEGIES)
        check_choice(owner, "scaler", self.scaler, SCALERS)
        if self.clip is not None:
            check_float(owner, "clip", self.clip, minimum=0.0)
        if self.outlier_std:
            check_float(owner, "outlier_std", self.outlier_std, minimum=0.0)
        check_int(owner, "bins", self.bins, minimum=2)
        check_int(owner, "max_categories", self.max_categories, minimum=1)
        check_int(owner, "min_count", self.min_count, minimum=1)
        if self.hash_width is not None:
            check_int(owner, "hash_width", self.hash_width, minimum=1)
        check_int(owner, "sketch_k", self.sketch_k, minimum=8)
        check_int(owner, "sketch_block", self.sketch_block, minimum=1)
        check_int(owner, "seed", self.seed, minimum=0)
        # Imputer checks fill_value against the strategies that use it.
        for strategy in {self.strategy(n) for n in self.numeric}:
            Imputer(strategy, self.fill_value)

    def strategy(self, name: str) -> str:
        """The imputation strategy of numeric field ``name``."""
        return self.impute.get(name, self.impute_default)


class Featurizer:
    """The stateful featurizer of a stream of events (see the module for the semantics).

    Args:
        spec: what to compute.

    Attributes:
        spec: the spec it was built with.

    >>> f = Featurizer(FeatureSpec(numeric=("x",), scaler="minmax"))
    >>> numeric = np.array([[1.0], [3.0], [np.nan], [2.0]])
    >>> f.transform_then_learn(numeric, np.empty((4, 0), dtype=object))[1].ravel().tolist()
    [0.0, 0.0, 0.5, 0.5]
    """

    def __init__(self, spec: FeatureSpec) -> None:
        if not isinstance(spec, FeatureSpec):
            message = f"Featurizer: spec must be a FeatureSpec, got {type(spec).__name__}"
            raise OperatorError(message)
        self.spec = spec
        strategies = list(dict.fromkeys(spec.strategy(n) for n in spec.numeric))
        self._imputers = [
            (
                np.array([i for i, n in enumerate(spec.numeric) if spec.strategy(n) == s]),
                Imputer(
                    s,
                    spec.fill_value,
                    k=spec.sketch_k,
                    seed=child_seed(spec.seed, 1 + g),
                    block=spec.sketch_block,
                ),
            )
            for g, s in enumerate(strategies)
        ]
        self._scaler = _scaler(spec, child_seed(spec.seed, 0))
        guarded = spec.outlier_std and spec.scaler in ("standard", "minmax") and spec.numeric
        self._outliers = OutlierClip(spec.outlier_std) if guarded else None
        self._hasher = (
            None if spec.hash_width is None else FeatureHasher(spec.hash_width, spec.seed)
        )
        self._one_hot = OneHotEncoder(spec.max_categories, spec.min_count)
        self._names: tuple[tuple[int, ...], tuple[str, ...]] | None = None  # by slots filled

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the columns, as of the last batch."""
        filled = tuple(len(v.categories) for v in self._one_hot.vocabularies.values())
        if self._names is None or self._names[0] != filled:
            self._names = filled, self._column_names()
        return self._names[1]

    def _column_names(self) -> tuple[str, ...]:
        spec = self.spec
        out = list(spec.numeric)
        if spec.numeric_indicator:
            out += [f"{n}__missing" for n in spec.numeric]
        if self._hasher is not None:
            out += self._hasher.names() if spec.categorical else ()
        else:
            for name in spec.categorical:
                out += self._one_hot.names(name)
        if spec.categorical_indicator:
            out += [f"{n}__missing" for n in spec.categorical]
        return tuple(out)

    @property
    def clipped(self) -> tuple[int, ...]:
        """Outliers clipped so far, per numeric field (zeros when nothing is guarded)."""
        if self._outliers is None or not len(self._outliers.clipped):
            return (0,) * len(self.spec.numeric)
        return tuple(self._outliers.clipped.tolist())

    @property
    def sparse(self) -> tuple[bool, ...]:
        """For each column, whether it is a one-hot or hashed column (zeros dropped in dicts)."""
        spec = self.spec
        dense = len(spec.numeric) * (2 if spec.numeric_indicator else 1)
        if not spec.categorical:
            encoded = 0
        elif spec.hash_width is not None:
            encoded = spec.hash_width
        else:
            encoded = len(spec.categorical) * (spec.max_categories + 1)
        indicators = len(spec.categorical) if spec.categorical_indicator else 0
        return (False,) * dense + (True,) * encoded + (False,) * indicators

    def transform_then_learn(
        self, numeric: np.ndarray, categorical: np.ndarray
    ) -> tuple[tuple[str, ...], np.ndarray]:
        """Featurize a batch given as columns, learning from each row after transforming it.

        Args:
            numeric: ``(n, len(spec.numeric))`` floats in the spec's order; NaN (or an
                infinity) where a value is missing. Never modified.
            categorical: ``(n, len(spec.categorical))`` object array of ``str`` or None
                (missing), in the spec's order. Never modified.

        Returns:
            ``(names, matrix)``: the column names and a new ``n x len(names)`` float matrix.

        Raises:
            OperatorError: if an array has the wrong shape or is not numbers.
        """
        spec = self.spec
        raw = self._numeric(numeric)
        n = len(raw)
        values = self._categorical(categorical, n)
        matrix = np.zeros((n, len(self.sparse)))
        done = 0  # columns written so far
        if spec.numeric:
            missing = ~np.isfinite(raw)
            if missing.any():
                raw = np.where(missing, np.nan, raw)
            if self._outliers is not None:
                raw = self._outliers.transform_then_learn(raw)
            filled = np.empty_like(raw)
            for columns, imputer in self._imputers:
                filled[:, columns] = imputer.transform_then_learn(raw[:, columns])
            done = len(spec.numeric)
            scaler = self._scaler
            matrix[:, :done] = filled if scaler is None else scaler.transform_then_learn(filled)
            if spec.numeric_indicator:
                matrix[:, done : 2 * done] = missing
                done *= 2
        if spec.categorical:
            if self._hasher is not None:
                self._hasher.transform(values, out=matrix[:, done : done + self._hasher.width])
                done += self._hasher.width
            else:
                for name, column in values.items():
                    slots = matrix[:, done : done + spec.max_categories + 1]
                    self._one_hot.transform_then_learn(name, column, out=slots)
                    done += spec.max_categories + 1
            if spec.categorical_indicator:
                for column in values.values():
                    matrix[:, done] = [v is None for v in column]
                    done += 1
        return self.names, matrix

    def update(self, events: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], np.ndarray]:
        """Featurize a batch of event field dicts: builds the columns, then
        :meth:`transform_then_learn`.

        A thin wrapper for the flow of today, which hands over dicts; it goes away when the
        decoder hands over columns. A numeric value is missing when its key is absent or it
        is None, NaN or infinite; a categorical one when absent, None or NaN, and any other
        value is encoded as ``str(value)``. Fields the spec does not name are ignored.

        Args:
            events: the events' field dicts, in stream order (never modified).

        Returns:
            ``(names, matrix)``: see :meth:`transform_then_learn`.

        Raises:
            OperatorError: if a numeric field holds something that is not a number.
        """
        spec = self.spec
        categorical = np.empty((len(events), len(spec.categorical)), dtype=object)
        for j, name in enumerate(spec.categorical):
            categorical[:, j] = _categories(events, name)
        return self.transform_then_learn(_numbers(events, spec.numeric), categorical)

    def _numeric(self, numeric: np.ndarray) -> np.ndarray:
        width = len(self.spec.numeric)
        try:
            raw = np.asarray(numeric, dtype=np.float64)
        except (TypeError, ValueError) as error:
            message = f"Featurizer: numeric must be an array of numbers ({error})"
            raise OperatorError(message) from None
        if raw.ndim != 2 or raw.shape[1] != width:
            message = (
                f"Featurizer: numeric must have shape (events, {width}) (the fields "
                f"{self.spec.numeric!r}), got {raw.shape}"
            )
            raise OperatorError(message)
        return raw

    def _categorical(self, categorical: np.ndarray, n: int) -> dict[str, list[Hashable | None]]:
        names = self.spec.categorical
        array = np.asarray(categorical, dtype=object)
        if array.shape != (n, len(names)):
            message = (
                f"Featurizer: categorical must have shape ({n}, {len(names)}) (the fields "
                f"{names!r}), got {array.shape}"
            )
            raise OperatorError(message)
        return {name: array[:, j].tolist() for j, name in enumerate(names)}


def _scaler(spec: FeatureSpec, seed: int) -> _Scaler | None:
    kind = spec.scaler
    if kind == "standard":
        return StandardScaler(spec.clip)
    if kind == "minmax":
        return MinMaxScaler(clip=spec.clip is not None)
    if kind == "log":
        return SignedLog1p()
    if kind == "robust":
        return RobustScaler(spec.clip, k=spec.sketch_k, seed=seed, block=spec.sketch_block)
    if kind == "quantile_bins":
        return QuantileBinner(spec.bins, k=spec.sketch_k, seed=seed, block=spec.sketch_block)
    return None


def _numbers(events: Sequence[Mapping[str, Any]], names: Sequence[str]) -> np.ndarray:
    columns = [[event.get(n) for event in events] for n in names]  # faster than row lists
    if not names:
        return np.empty((len(events), 0))
    try:
        return np.array(columns, dtype=np.float64).reshape(len(names), len(events)).T.copy()
    except (TypeError, ValueError):
        pass
    for name, column in zip(names, columns, strict=True):
        for i, value in enumerate(column):
            if value is not None and not _is_number(value):
                message = (
                    f"Featurizer: numeric field {name!r} of event {i} must be a number or "
                    f"missing, got {value!r}"
                )
                raise OperatorError(message)
    raise AssertionError("unreachable: every value converts to float")


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _categories(events: Sequence[Mapping[str, Any]], name: str) -> list[str | None]:
    # None and NaN are missing; everything else is its string (v != v only for NaN).
    values = [event.get(name) for event in events]
    return [None if v is None or v != v else str(v) for v in values]
