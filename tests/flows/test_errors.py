"""One exception root: every error class of the project derives from RiverbedError and carries
the exit code of its kind (2: configuration, options, checkpoints; 1: run time)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import flows
import online_models
import operators
from flows.errors import (
    BrokerError,
    CheckpointError,
    ConfigError,
    OptionsError,
    SinkError,
    SourceError,
)
from online_models.errors import ModelError
from operators.errors import OperatorError, RiverbedError, StepError
from operators.settings import SettingsError

EXIT_CODES = {
    OperatorError: 2,
    SettingsError: 2,
    ModelError: 2,
    ConfigError: 2,
    OptionsError: 2,
    CheckpointError: 2,
    SourceError: 1,
    SinkError: 1,
    BrokerError: 1,
    StepError: 1,
}


def _exception_classes() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for package in (operators, online_models, flows):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == info.name:
                    found.add(cls)
    return found


def test_every_exception_class_of_the_project_derives_from_the_root():
    classes = _exception_classes()
    assert set(EXIT_CODES) <= classes
    # private ones (decode's _Invalid) are control flow inside a module, never seen by a user
    public = [c for c in classes if not c.__name__.startswith("_")]
    assert [c.__qualname__ for c in public if not issubclass(c, RiverbedError)] == []


def test_each_kind_carries_its_exit_code():
    assert {cls: cls.exit_code for cls in EXIT_CODES} == EXIT_CODES


def test_config_error_prints_one_line_per_problem():
    error = ConfigError(["source.kind: expected one of file, kafka\n got 'x'", "a: b"], "j.toml")
    assert error.lines() == [
        "j.toml: a: b",
        "j.toml: source.kind: expected one of file, kafka got 'x'",
    ]
    assert str(error).startswith("configuration j.toml has 2 errors:\n  - a: b")
