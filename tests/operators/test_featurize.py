"""The featurizer end to end: River's impute + scale + one-hot pipeline as the oracle, the same
bits for any cut of the stream, columns and dicts, fields that come and go, indicators,
hashing and the spec's checks."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np
import pytest
from river import compose, preprocessing, stats

from operators.errors import OperatorError
from operators.featurize import SCALERS, FeatureSpec, Featurizer
from operators.imputation import Imputer
from operators.records import FeatureBlock
from operators.scaling import QuantileBinner, RobustScaler, SignedLog1p
from operators.seeding import child_seed
from tests.cuts import check_cut_invariance

NUMERIC = ("x0", "x1", "x2")
CATEGORICAL = ("c0", "c1")


def _events(seed: int, n: int = 600) -> list[dict[str, Any]]:
    """Events whose missing values are absent keys, None or NaN."""
    rng = np.random.default_rng(seed)
    events = []
    for _ in range(n):
        event: dict[str, Any] = {
            "x0": float(rng.normal(50.0, 10.0)),
            "x1": float(rng.lognormal(0.0, 1.0)),
            "x2": float(rng.integers(0, 3)),
            "c0": f"k{rng.integers(4)}",
            "c1": int(rng.integers(6)),  # categories are encoded as str(value)
            "ignored": "not in the spec",
        }
        for name in (*NUMERIC, *CATEGORICAL):
            u = rng.random()
            if u < 0.05:
                del event[name]
            elif u < 0.08:
                event[name] = None
            elif u < 0.1 and name in NUMERIC:
                event[name] = float("nan")
        events.append(event)
    return events


def _in_batches(featurizer: Featurizer, events: list[dict[str, Any]], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cuts = [0, *np.sort(rng.integers(0, len(events), 12)).tolist(), len(events)]
    return np.vstack([featurizer.update(events[a:b])[1] for a, b in itertools.pairwise(cuts)])


def test_matches_river_impute_scale_one_hot_pipeline() -> None:
    events = _events(0)
    # River's StandardScaler has no outlier guard: compared with it, ours is off.
    spec = FeatureSpec(numeric=NUMERIC, categorical=CATEGORICAL, max_categories=10, outlier_std=0)
    featurizer = Featurizer(spec)
    matrix = _in_batches(featurizer, events, 0)
    names = featurizer.names

    river = (
        compose.Select(*NUMERIC)
        | preprocessing.StatImputer(*[(n, stats.Mean()) for n in NUMERIC])
        | preprocessing.StandardScaler()
    ) + (compose.Select(*CATEGORICAL) | preprocessing.OneHotEncoder(drop_zeros=True))
    for i, event in enumerate(events):
        x = {n: event.get(n) for n in (*NUMERIC, *CATEGORICAL)}
        x = {n: None if isinstance(v, float) and np.isnan(v) else v for n, v in x.items()}
        want = river.transform_one(x)
        river.learn_one(x)
        np.testing.assert_allclose(
            matrix[i, :3], [want[n] for n in NUMERIC], rtol=1e-12, atol=1e-12, err_msg=str(i)
        )
        active = {names[j] for j in np.flatnonzero(matrix[i, 3:]) + 3}
        river_active = {k.replace("_", "=", 1) for k in want if k[:2] in ("c0", "c1")}
        assert active == {k for k in river_active if not k.endswith("=None")}


def _columns(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A columnar stream: missing values, infinities, outliers, ties, a numeric field that
    starts late, categories that keep arriving (far more than the caps) and missing ones."""
    rng = np.random.default_rng(seed)
    numeric = np.column_stack(
        (
            rng.normal(50.0, 10.0, n),
            np.where(rng.random(n) < 0.02, 1e12, rng.lognormal(0.0, 1.0, n)),
            rng.integers(0, 3, n).astype(np.float64),
            np.where(np.arange(n) < n // 3, np.nan, rng.normal(size=n)),
        )
    )
    numeric[rng.random(numeric.shape) < 0.08] = np.nan
    numeric[rng.random(numeric.shape) < 0.01] = np.inf
    numeric[rng.random(numeric.shape) < 0.01] = -np.inf
    categorical = np.empty((n, 3), dtype=object)
    categorical[:, 0] = [f"k{v}" for v in rng.integers(0, 4, n)]
    categorical[:, 1] = [f"z{v}" for v in rng.zipf(1.2, n) % 2000]
    categorical[:, 2] = [f"u{v}" for v in rng.integers(0, 500, n)]
    categorical[rng.random(categorical.shape) < 0.07] = None
    return numeric, categorical


CUT_SPECS = {
    "standard-mean-onehot": {"max_categories": 4, "min_count": 3, "clip": 3.0},
    "minmax-median": {"scaler": "minmax", "impute_default": "median", "clip": 1.0},
    "robust-most-frequent-hash": {
        "scaler": "robust",
        "impute": {"n1": "most_frequent", "n3": "median"},
        "hash_width": 16,
        "clip": 5.0,
    },
    "bins-constant": {
        "scaler": "quantile_bins",
        "bins": 5,
        "impute_default": "constant",
        "fill_value": -1.0,
        "max_categories": 2,
        "min_count": 20,
    },
    "log-none": {"scaler": "log", "max_categories": 50},
    "none": {"scaler": "none", "impute": {"n0": "median"}},
}


@pytest.mark.parametrize("name", CUT_SPECS)
def test_any_cut_gives_the_same_bits(name: str) -> None:
    numeric, categorical = _columns(4, 2500)
    spec = FeatureSpec(
        numeric=("n0", "n1", "n2", "n3"),
        categorical=("c0", "c1", "c2"),
        numeric_indicator=True,
        categorical_indicator=True,
        sketch_k=16,
        sketch_block=64,
        seed=9,
        **CUT_SPECS[name],
    )

    def feed(f: Featurizer, a: int, b: int) -> np.ndarray:
        names, matrix = f.transform_then_learn(numeric[a:b], categorical[a:b])
        assert names == f.names and len(names) == matrix.shape[1]
        return matrix

    matrix = check_cut_invariance(lambda: Featurizer(spec), feed, len(numeric))
    assert np.isfinite(matrix).all()


@pytest.mark.parametrize("scaler", ["robust", "quantile_bins"])
def test_sketch_steps_get_the_specs_block_k_and_seeds(scaler: str) -> None:
    numeric, _ = _columns(5, 900)
    spec = FeatureSpec(
        numeric=("n0", "n1", "n2", "n3"),
        scaler=scaler,
        impute_default="median",
        sketch_k=16,
        sketch_block=40,
        seed=3,
    )
    got = Featurizer(spec).transform_then_learn(numeric, np.empty((900, 0), dtype=object))[1]
    raw = np.where(np.isfinite(numeric), numeric, np.nan)
    imputed = Imputer("median", k=16, seed=child_seed(3, 1), block=40).transform_then_learn(raw)
    direct = {
        "robust": RobustScaler(None, k=16, seed=child_seed(3, 0), block=40),
        "quantile_bins": QuantileBinner(10, k=16, seed=child_seed(3, 0), block=40),
    }[scaler]
    np.testing.assert_array_equal(got, direct.transform_then_learn(imputed))


def test_dicts_give_the_columns_and_the_same_features() -> None:
    events = _events(1)
    spec = FeatureSpec(
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        max_categories=3,
        min_count=5,
        numeric_indicator=True,
        categorical_indicator=True,
    )
    numeric = np.array([[e.get(n) for n in NUMERIC] for e in events], dtype=np.float64)
    categorical = np.array(
        [[None if e.get(c) is None else str(e[c]) for c in CATEGORICAL] for e in events],
        dtype=object,
    )
    by_columns = Featurizer(spec).transform_then_learn(numeric, categorical)
    by_dicts = Featurizer(spec)
    rng = np.random.default_rng(0)
    cuts = [0, *np.sort(rng.integers(0, len(events), 12)).tolist(), len(events)]
    matrix = np.vstack([by_dicts.update(events[a:b])[1] for a, b in itertools.pairwise(cuts)])
    np.testing.assert_array_equal(matrix, by_columns[1])
    assert by_dicts.names == by_columns[0]


def test_columns_are_checked_by_name() -> None:
    f = Featurizer(FeatureSpec(numeric=("a", "b"), categorical=("c",)))
    with pytest.raises(OperatorError, match=r"numeric must have shape \(events, 2\)"):
        f.transform_then_learn(np.zeros((3, 1)), np.empty((3, 1), dtype=object))
    with pytest.raises(OperatorError, match=r"categorical must have shape \(3, 1\)"):
        f.transform_then_learn(np.zeros((3, 2)), np.empty((2, 1), dtype=object))
    with pytest.raises(OperatorError, match="numeric must be an array of numbers"):
        f.transform_then_learn(np.array([["x", "y"]], dtype=object), np.empty((1, 1), object))
    numeric = np.array([[1.0, np.inf]])
    before = numeric.copy()
    f.transform_then_learn(numeric, np.array([["v"]], dtype=object))
    np.testing.assert_array_equal(numeric, before)  # the infinity is missing, not rewritten


def test_fields_that_appear_and_disappear() -> None:
    spec = FeatureSpec(numeric=("early", "late"), categorical=("tag",), max_categories=2)
    featurizer = Featurizer(spec)
    width = len(featurizer.names)
    first = featurizer.update([{"early": float(i)} for i in range(5)])
    second = featurizer.update([{"late": float(i), "tag": "t"} for i in range(5)])
    third = featurizer.update([{"tag": "u"}, {}])
    for names, matrix in (first, second, third):
        assert len(names) == width and matrix.shape[1] == width
        assert np.isfinite(matrix).all()
    assert np.all(first[1][:, 1] == 0.0)  # 'late' never seen: imputed 0, scaled 0
    assert second[0] == ("early", "late", "tag=t", "tag=__slot1__", "tag=__other__")
    assert third[0][3] == "tag=u" and third[1][:, 2:].tolist() == [[0, 1, 0], [0, 0, 0]]


def test_indicators_hashing_and_dicts() -> None:
    spec = FeatureSpec(
        numeric=("n",),
        categorical=("a", "b"),
        scaler="none",
        hash_width=8,
        numeric_indicator=True,
        categorical_indicator=True,
    )
    featurizer = Featurizer(spec)
    names, matrix = featurizer.update([{"n": 2.0, "a": "x"}, {"b": "y", "n": float("inf")}])
    assert names == (
        "n",
        "n__missing",
        *(f"hashed[{j}]" for j in range(8)),
        "a__missing",
        "b__missing",
    )
    assert featurizer.sparse == (False, False, *[True] * 8, False, False)
    assert matrix[:, :2].tolist() == [[2.0, 0.0], [2.0, 1.0]]  # inf is missing: mean imputed
    assert matrix[:, -2:].tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert np.abs(matrix[:, 2:10]).sum(axis=1).tolist() == [1.0, 1.0]
    dicts = FeatureBlock(names, matrix, featurizer.sparse).dicts()
    assert len(dicts[0]) == 2 + 1 + 2  # dense columns plus the one hashed entry


@pytest.mark.parametrize("scaler", SCALERS)
def test_every_scaler_kind(scaler: str) -> None:
    events = _events(2, n=300)
    spec = FeatureSpec(numeric=NUMERIC, scaler=scaler, clip=3.0, bins=4, impute={"x1": "median"})
    names, matrix = Featurizer(spec).update(events)
    assert names == NUMERIC and matrix.shape == (300, 3) and np.isfinite(matrix).all()
    raw = Featurizer(FeatureSpec(numeric=NUMERIC, scaler="none", impute={"x1": "median"}))
    imputed = raw.update(events)[1]
    if scaler == "log":
        np.testing.assert_array_equal(matrix, SignedLog1p().transform_then_learn(imputed))
    if scaler == "none":
        assert np.isnan(imputed).sum() == 0
    if scaler == "quantile_bins":
        assert set(np.unique(matrix)) <= {0.0, 1.0, 2.0, 3.0}
    if scaler in ("standard", "robust"):
        assert np.abs(matrix).max() <= 3.0
    if scaler == "minmax":
        assert matrix.min() >= 0.0 and matrix.max() <= 1.0


def test_input_is_not_modified_and_bad_numbers_are_reported() -> None:
    events = _events(3, n=50)
    before = copy.deepcopy(events)
    featurizer = Featurizer(FeatureSpec(numeric=NUMERIC, categorical=CATEGORICAL))
    featurizer.update(events)
    assert repr(events) == repr(before)
    with pytest.raises(OperatorError, match="numeric field 'x1' of event 1 must be a number"):
        featurizer.update([{"x1": 1.0}, {"x1": "abc"}])
    assert featurizer.update([])[1].shape == (0, len(featurizer.names))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"numeric": ("a",), "categorical": ("a",)}, "distinct non-empty field names"),
        ({"numeric": ("a",), "impute": {"b": "mean"}}, "impute names fields that are not numeric"),
        ({"numeric": ("a",), "impute": {"a": "mode"}}, r"impute\['a'\] must be one of"),
        ({"numeric": ("a",), "impute_default": "constant"}, "fill_value must be a finite number"),
        ({"scaler": "zscore"}, "scaler must be one of"),
        ({"clip": -1.0}, "clip must be a finite number > 0.0"),
        ({"max_categories": 0}, "max_categories must be an int >= 1"),
        ({"hash_width": 0}, "hash_width must be an int >= 1"),
    ],
)
def test_spec_is_checked(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(OperatorError, match=message):
        FeatureSpec(**settings)
    with pytest.raises(OperatorError, match="spec must be a FeatureSpec"):
        Featurizer({"numeric": ("a",)})  # type: ignore[arg-type]


def test_one_extreme_value_does_not_poison_the_standard_scaler() -> None:
    """The scaler's statistics after a stream with one 1e15 among normal values are those of
    the stream with that value at the bound; River's (unguarded) are ruined."""
    rng = np.random.default_rng(5)
    x = rng.normal(3.0, 2.0, size=(400, 1))
    x[250, 0] = 1e15
    guarded = Featurizer(FeatureSpec(numeric=("x",)))
    out = guarded.transform_then_learn(x, np.empty((400, 0), dtype=object))[1]
    assert guarded.clipped == (1,)
    before = x[:250, 0]
    bound = before.mean() + 10.0 * before.std()
    oracle = x.copy()
    oracle[250, 0] = bound
    river = preprocessing.StandardScaler()
    for v in oracle[:, 0]:
        river.learn_one({"x": float(v)})
    assert np.isclose(river.means["x"], guarded._scaler.moments.mean[0], rtol=1e-12)
    assert np.isclose(river.vars["x"], guarded._scaler.moments.var[0], rtol=1e-12)
    assert abs(out[-1, 0]) < 5 and np.isclose(out[250, 0], 10.0, rtol=1e-9)
    off = Featurizer(FeatureSpec(numeric=("x",), outlier_std=0))
    ruined = off.transform_then_learn(x, np.empty((400, 0), dtype=object))[1]
    # Unguarded, every later value is scaled to about the same number: the feature is gone.
    assert off.clipped == (0,) and np.ptp(ruined[251:, 0]) < 0.05 < 3 < np.ptp(out[251:, 0])
