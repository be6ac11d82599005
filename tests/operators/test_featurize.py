"""The featurizer end to end: River's impute + scale + one-hot pipeline as the oracle, batching
independence, fields that come and go, indicators, hashing and the spec's checks."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np
import pytest
from river import compose, preprocessing, stats

from operators.errors import OperatorError
from operators.featurize import SCALERS, FeatureSpec, Featurizer
from operators.records import FeatureBlock
from operators.scaling import SignedLog1p

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
    spec = FeatureSpec(numeric=NUMERIC, categorical=CATEGORICAL, max_categories=10)
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
            matrix[i, :3], [want[n] for n in NUMERIC], rtol=1e-9, atol=1e-9, err_msg=str(i)
        )
        active = {names[j] for j in np.flatnonzero(matrix[i, 3:]) + 3}
        river_active = {k.replace("_", "=", 1) for k in want if k[:2] in ("c0", "c1")}
        assert active == {k for k in river_active if not k.endswith("=None")}


@pytest.mark.parametrize("scaler", ["standard", "minmax"])
def test_any_batching_gives_the_same_features(scaler: str) -> None:
    events = _events(1)
    spec = FeatureSpec(
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        scaler=scaler,
        max_categories=3,
        min_count=5,
        numeric_indicator=True,
        categorical_indicator=True,
    )
    whole = Featurizer(spec)
    expected = whole.update(events)[1]
    for seed in range(3):
        parts = Featurizer(spec)
        np.testing.assert_allclose(
            _in_batches(parts, events, seed), expected, rtol=1e-9, atol=1e-12
        )
        assert parts.names == whole.names


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
