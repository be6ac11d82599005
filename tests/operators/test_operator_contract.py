"""The contract every operator class of this package must pass (DESIGN.md, convention 6).

For each class, a case says how to build it (from a seed), how to feed it one batch and what it
then shows (its output, or what it exposes), and gives a short stream of batches. The checks:
a pickle round trip mid-stream changes nothing that follows; the same seed and input give the
same output; the input is never modified; the pickled state is small and does not grow with
the stream (sketches grow with its logarithm); the featurizer copes with fields that come and
go. A last test fails when a public class is added to a module without a case here.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from operators.encoding import FeatureHasher, OneHotEncoder, OrdinalEncoder, Vocabulary
from operators.featurize import FeatureSpec, Featurizer
from operators.frequency import FrequentItems
from operators.imputation import STRATEGIES, Imputer
from operators.moments import RunningMoments
from operators.quantiles import ColumnSketches, KLLSketch
from operators.reservoir import StratifiedReservoir, UniformReservoir, WeightedReservoir
from operators.scaling import (
    MinMaxScaler,
    QuantileBinner,
    RobustScaler,
    SignedLog1p,
    StandardScaler,
)

MODULES = [
    "operators.encoding",
    "operators.featurize",
    "operators.frequency",
    "operators.imputation",
    "operators.moments",
    "operators.quantiles",
    "operators.reservoir",
    "operators.scaling",
]
NOT_OPERATORS = {FeatureSpec}  # configuration, not state
GRID = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[int], Any]
    step: Callable[[Any, Any], Any]
    batches: Callable[[np.random.Generator], list[Any]]


def _matrices(rng: np.random.Generator, width: int = 3) -> list[np.ndarray]:
    out = []
    for size in rng.integers(0, 200, 40):
        x = rng.normal(size=(int(size), width)) * [1.0, 100.0, 1e-3][:width]
        x[rng.random(x.shape) < 0.1] = np.nan
        out.append(x)
    return out


def _categories(rng: np.random.Generator) -> list[list[str | None]]:
    return [
        [None if v == 0 else f"v{v}" for v in (rng.zipf(1.3, int(n)) % 300).tolist()]
        for n in rng.integers(0, 200, 40)
    ]


def _items(rng: np.random.Generator) -> list[list[list[int]]]:
    start, out = 0, []
    for n in rng.integers(0, 300, 40).tolist():
        out.append([[i] for i in range(start, start + n)])  # mutable items
        start += n
    return out


def _events(rng: np.random.Generator) -> list[list[dict[str, Any]]]:
    """Event batches in which 'early' stops and 'late' starts halfway, with missing values."""
    out = []
    for b, n in enumerate(rng.integers(0, 100, 40).tolist()):
        batch = []
        for _ in range(n):
            event: dict[str, Any] = {
                "x": float(rng.normal()) if rng.random() > 0.1 else None,
                "c": f"k{rng.zipf(1.5) % 50}" if rng.random() > 0.1 else float("nan"),
                "n": [1, 2],  # an unrelated mutable field
            }
            if b < 20:
                event["early"] = float(rng.normal(5.0))
                event["gone"] = "g"
            else:
                event["late"] = float(rng.lognormal())
                event["new"] = f"n{rng.integers(3)}"
            batch.append(event)
        out.append(batch)
    return out


def _sample_state(op: Any) -> Any:
    return op.sample(), op.seen


def _update_sample(op: Any, batch: Any) -> Any:
    op.update(batch)
    return _sample_state(op)


def _weighted(op: WeightedReservoir, batch: Any) -> Any:
    items, weights = batch
    op.update(items, weights)
    return op.sample(), op.seen, op.skipped


def _stratified(op: StratifiedReservoir, batch: Any) -> Any:
    items, keys = batch
    op.update(items, keys)
    return _sample_state(op)


def _sketch(op: KLLSketch, batch: np.ndarray) -> Any:
    op.update(batch)
    return op.quantiles(GRID), op.rank(np.array([-1.0, 0.0, 1.0])), op.count


def _column_sketches(op: ColumnSketches, batch: np.ndarray) -> Any:
    op.update(batch)
    return op.quantiles(GRID, batch.shape[1])


def _moments(op: RunningMoments, batch: np.ndarray) -> Any:
    return op.prefix_then_learn(batch), op.count, op.mean, op.var


def _frequent(op: FrequentItems, batch: list[str | None]) -> Any:
    values, counts = np.unique([v for v in batch if v is not None], return_counts=True)
    op.add(values.tolist(), counts.tolist())
    return dict(op.counts)


def _transform(op: Any, batch: np.ndarray) -> Any:
    return op.transform_then_learn(batch)


def _one_hot(op: OneHotEncoder, batch: list[str | None]) -> Any:
    return op.transform_then_learn("f", batch), op.names("f")


def _ordinal(op: OrdinalEncoder, batch: list[str | None]) -> Any:
    return op.transform_then_learn("f", batch), op.categories("f")


def _hash(op: FeatureHasher, batch: list[str | None]) -> Any:
    return op.transform({"f": batch, "g": batch[::-1]})


def _featurize(op: Featurizer, batch: list[dict[str, Any]]) -> Any:
    return op.update(batch), op.sparse


SPECS = {
    "standard-onehot": FeatureSpec(
        numeric=("x", "early", "late"), categorical=("c", "gone", "new"), max_categories=8
    ),
    "robust-hash": FeatureSpec(
        numeric=("x", "early", "late"),
        categorical=("c", "new"),
        scaler="robust",
        clip=4.0,
        hash_width=16,
        impute={"late": "median", "early": "most_frequent"},
        numeric_indicator=True,
        categorical_indicator=True,
        seed=0,
    ),
    "bins-mincount": FeatureSpec(
        numeric=("x", "late"),
        categorical=("c",),
        scaler="quantile_bins",
        bins=5,
        min_count=3,
        max_categories=4,
        impute_default="constant",
        fill_value=-1.0,
    ),
}


def _seeded_featurizer(spec: FeatureSpec) -> Callable[[int], Featurizer]:
    def build(seed: int) -> Featurizer:
        fields = {f: getattr(spec, f) for f in spec.__dataclass_fields__}
        return Featurizer(FeatureSpec(**{**fields, "seed": seed}))

    return build


CASES = [
    Case("UniformReservoir", lambda s: UniformReservoir(25, s), _update_sample, _items),
    Case(
        "UniformReservoir-numpy",
        lambda s: UniformReservoir(25, s),
        _update_sample,
        lambda rng: [np.arange(i * 97, (i + 1) * 97) for i in range(40)],
    ),
    Case(
        "WeightedReservoir",
        lambda s: WeightedReservoir(25, s),
        _weighted,
        lambda rng: [(b, rng.exponential(size=len(b)) - 0.05) for b in _items(rng)],
    ),
    Case(
        "StratifiedReservoir",
        lambda s: StratifiedReservoir(5, 4, s),
        _stratified,
        lambda rng: [(b, rng.integers(0, 9, len(b)).tolist()) for b in _items(rng)],
    ),
    Case(
        "KLLSketch",
        lambda s: KLLSketch(16, s),
        _sketch,
        lambda rng: [m[:, 0] for m in _matrices(rng)],
    ),
    Case("ColumnSketches", lambda s: ColumnSketches(16, s), _column_sketches, _matrices),
    Case("RunningMoments", lambda s: RunningMoments(), _moments, _matrices),
    Case("FrequentItems", lambda s: FrequentItems(20), _frequent, _categories),
    Case(
        "Vocabulary", lambda s: Vocabulary(6, 2), lambda op, b: op.encode_then_learn(b), _categories
    ),
    Case("StandardScaler", lambda s: StandardScaler(clip=3.0), _transform, _matrices),
    Case("MinMaxScaler", lambda s: MinMaxScaler(), _transform, _matrices),
    Case("SignedLog1p", lambda s: SignedLog1p(), _transform, _matrices),
    Case("RobustScaler", lambda s: RobustScaler(k=16, seed=s), _transform, _matrices),
    Case("QuantileBinner", lambda s: QuantileBinner(5, k=16, seed=s), _transform, _matrices),
    Case("OneHotEncoder", lambda s: OneHotEncoder(5, 2), _one_hot, _categories),
    Case("OrdinalEncoder", lambda s: OrdinalEncoder(5), _ordinal, _categories),
    Case("FeatureHasher", lambda s: FeatureHasher(8, s), _hash, _categories),
    *[
        Case(
            f"Imputer-{strategy}",
            lambda s, st=strategy: Imputer(st, 1.0, True, 16, s),
            _transform,
            _matrices,
        )
        for strategy in STRATEGIES
    ],
    *[
        Case(f"Featurizer-{name}", _seeded_featurizer(spec), _featurize, _events)
        for name, spec in SPECS.items()
    ],
]
IDS = [case.name for case in CASES]


def _same(a: Any, b: Any) -> bool:
    """Exact equality, recursively, with NaN equal to NaN and array dtypes compared."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _run(case: Case, op: Any, batches: list[Any]) -> list[Any]:
    return [case.step(op, batch) for batch in batches]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pickle_round_trip_then_identical_future_output(case: Case) -> None:
    batches = case.batches(np.random.default_rng(1))
    op = case.build(3)
    _run(case, op, batches[:20])
    clone = pickle.loads(pickle.dumps(op))
    assert _same(_run(case, clone, batches[20:]), _run(case, op, batches[20:]))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_same_seed_same_input_same_output(case: Case) -> None:
    first = _run(case, case.build(7), case.batches(np.random.default_rng(2)))
    second = _run(case, case.build(7), case.batches(np.random.default_rng(2)))
    assert _same(first, second)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_input_is_not_modified(case: Case) -> None:
    batches = case.batches(np.random.default_rng(3))
    before = copy.deepcopy(batches)
    _run(case, case.build(0), batches)
    assert _same(batches, before)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pickled_state_is_small_and_bounded(case: Case) -> None:
    batches = case.batches(np.random.default_rng(4))
    op = case.build(0)
    _run(case, op, batches[:20])
    half = len(pickle.dumps(op))
    _run(case, op, batches[20:])
    _run(case, op, batches[20:])
    full = len(pickle.dumps(op))
    assert full < 100_000 and full <= 1.5 * half + 4096, (half, full)


@pytest.mark.parametrize("case", [c for c in CASES if c.name.startswith("Featurizer")], ids=str)
def test_featurizer_copes_with_fields_that_come_and_go(case: Case) -> None:
    op = case.build(0)
    width = len(op.names)
    for (names, matrix), sparse in _run(case, op, case.batches(np.random.default_rng(5))):
        assert len(names) == len(sparse) == width == matrix.shape[1]
        assert np.isfinite(matrix).all()


def test_every_operator_class_has_a_case() -> None:
    public = {
        obj.__name__
        for module in MODULES
        for name in importlib.import_module(module).__all__
        if inspect.isclass(obj := getattr(importlib.import_module(module), name))
        and obj not in NOT_OPERATORS
    }
    covered = {case.name.split("-")[0] for case in CASES}
    assert public <= covered, public - covered
