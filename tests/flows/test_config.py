from __future__ import annotations

from importlib import resources

import pytest

from flows.config import load, parse
from flows.errors import ConfigError

MODELS = [{"name": "lr", "estimator": "logistic_regression"}]


def test_the_packaged_demo_config_is_valid():
    path = resources.files("flows").joinpath("configs/demo.toml")
    cfg = load(str(path))
    assert cfg.source.kind == "kafka" and len(cfg.models) == 2
    assert cfg.sinks["predictions"].kind == "jsonl"


def test_every_error_is_reported_at_once_naming_key_and_expectation():
    raw = {
        "job": {"seed": -1, "nmae": "x"},
        "source": {"kind": "file"},
        "features": {"numeric": ["a"], "scaler": "zscore", "required": ["b"]},
        "batch": {"max_events": "many"},
        "models": [{"name": "m", "estimator": "river.tree.HoeffdingTreeClasifier"}, {"name": "m"}],
        "sinks": {"predictions": {"kind": "jsonl"}, "predictionz": {}},
        "extra": 1,
    }
    with pytest.raises(ConfigError) as info:
        parse(raw)
    msg = str(info.value)
    for expected in [
        "job.seed: expected an integer >= 0, got -1",
        "job.nmae: unknown key; did you mean 'name'?",
        "source.path: required when source.kind = 'file'",
        "features.scaler: expected one of standard, minmax, log, robust, quantile_bins, none",
        "features.required: ['b'] are not listed in numeric or categorical",
        "batch.max_events: expected an integer >= 1, got 'many'",
        "models[0].estimator: unknown estimator; did you mean river.tree.HoeffdingTreeClassifier",
        "models[1].estimator: required key is missing",
        "sinks.predictions.path: required when kind = 'jsonl'",
        "sinks.predictionz: unknown key; did you mean 'predictions'?",
        "extra: unknown key",
    ]:
        assert expected in msg, expected
    assert msg.startswith("configuration has 11 errors")


def test_duplicate_model_names_and_constant_imputation_without_value():
    raw = {
        "source": {"kind": "synthetic"},
        "features": {"numeric": ["a"], "impute_default": "constant"},
        "models": MODELS * 2,
    }
    with pytest.raises(ConfigError) as info:
        parse(raw)
    assert "model name 'lr' is used more than once" in str(info.value)
    assert "features.fill_value: required" in str(info.value)


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[job\nname=1")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load(bad)
    assert info.value.lines() == [
        f"{bad}: not valid TOML: Expected ']' at the end of a table declaration (at line 1, "
        "column 5)"
    ]
    with pytest.raises(ConfigError, match="cannot read the configuration: No such file"):
        load(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"[job]\nname = '\xff'\n")
    with pytest.raises(ConfigError) as info:
        load(binary)
    assert info.value.lines() == [
        f"{binary}: not a TOML file: byte 0xff at offset 14 is not UTF-8 text"
    ]


def test_defaults_fill_what_is_not_given():
    cfg = parse({"source": {"kind": "synthetic"}, "models": MODELS})
    assert cfg.batch.max_events == 1000 and cfg.features.scaler == "standard"
    assert cfg.sinks["alerts"].kind == "none" and cfg.checkpoint.directory == ""
