"""Estimators by name: River's, and riverbed's vectorized learners.

A model is named either by a short alias (``"logistic_regression"``, or
``"fast_logistic_regression"`` for the numpy learner of :mod:`online_models.linear`) or by the
dotted path of any River class (``"river.tree.HoeffdingTreeClassifier"``) or riverbed class
(``"online_models.linear.SoftmaxRegression"``). Names are checked when the job starts: an
unknown name is an error that lists the closest known names.

>>> type(build("logistic_regression", {})).__module__
'river.linear_model.log_reg'
>>> type(build("fast_logistic_regression", {"optimizer": "adam"})).__module__
'online_models.linear'
>>> try:
...     build("river.tree.HoeffdingTreeClasifier", {})
... except ModelError as e:
...     print(str(e).split("; ")[1].split(",")[0])
did you mean river.tree.HoeffdingTreeClassifier
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any

from online_models.errors import ModelError

__all__ = ["ALIASES", "build", "resolve", "known_names"]

ALIASES: dict[str, str] = {
    "logistic_regression": "river.linear_model.LogisticRegression",
    "perceptron": "river.linear_model.Perceptron",
    "linear_regression": "river.linear_model.LinearRegression",
    "gaussian_nb": "river.naive_bayes.GaussianNB",
    "hoeffding_tree": "river.tree.HoeffdingTreeClassifier",
    "hoeffding_adaptive_tree": "river.tree.HoeffdingAdaptiveTreeClassifier",
    "hoeffding_tree_regressor": "river.tree.HoeffdingTreeRegressor",
    "arf": "river.forest.ARFClassifier",
    "knn": "river.neighbors.KNNClassifier",
    "majority": "river.dummy.NoChangeClassifier",
    "softmax_regression": "river.linear_model.SoftmaxRegression",
    "fast_logistic_regression": "online_models.linear.LogisticRegression",
    "fast_softmax_regression": "online_models.linear.SoftmaxRegression",
    "fast_linear_regression": "online_models.linear.LinearRegression",
}

_OURS = "online_models.linear"

_RIVER_MODULES = (
    "linear_model", "tree", "naive_bayes", "forest", "neighbors", "ensemble", "dummy",
    "neural_net", "multiclass", "imblearn", "preprocessing", "compose", "rules", "facto",
)  # fmt: skip


def resolve(name: str) -> type:
    """The estimator class for ``name``: an alias, a ``river.*`` path or an
    ``online_models.linear.*`` path."""
    path = ALIASES.get(name, name)
    module_name, _, cls_name = path.rpartition(".")
    if module_name.split(".")[0] == "river" or module_name == _OURS:
        try:
            cls = getattr(importlib.import_module(module_name), cls_name, None)
        except ImportError:
            cls = None
        if inspect.isclass(cls):
            return cls
    close = difflib.get_close_matches(name, known_names(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known aliases: {sorted(ALIASES)}"
    raise ModelError(f"model {name!r}: unknown estimator{hint}")


def build(name: str, params: dict[str, Any]) -> Any:
    """Instantiate the estimator ``name`` with ``params``; bad parameters name the model."""
    cls = resolve(name)
    try:
        return cls(**params)
    except (TypeError, ModelError) as exc:
        raise ModelError(f"model {name!r}: bad parameters {params!r}: {exc}") from None


def known_names() -> list[str]:
    """Aliases and the dotted names of River's and riverbed's estimator classes."""
    names = set(ALIASES)
    names.update(f"{_OURS}.{attr}" for attr in importlib.import_module(_OURS).__all__)
    for mod in _RIVER_MODULES:
        try:
            module = importlib.import_module(f"river.{mod}")
        except ImportError:
            continue
        for attr in getattr(module, "__all__", []):
            if inspect.isclass(getattr(module, attr, None)):
                names.add(f"river.{mod}.{attr}")
    return sorted(names)
