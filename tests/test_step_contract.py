"""The contract every stateful step of the dataflow must pass (DESIGN.md, convention 6), run
over each one: the label join, the lateness filter, the label delay, sampling, feature drift,
featurize, the learn step and its parts (serving, scoring, drift actions with the challenger
pool), the output guard and the report, and the whole pipeline.

For each, a case says how to build it (from a seed) and how to feed it one item of a stream in
which feature fields come and go, labels arrive late (some never, some twice) and values are
missing. The checks: a pickle round trip mid-stream changes nothing that follows; the same seed
and input give the same output; the input is never modified; the pickled state stays bounded.
(The leaf state machines of operators/ have their own suite:
tests/operators/test_operator_contract.py.)
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from flows.config import parse
from flows.dataflow import build_pipeline
from flows.learn.serving import Serving, ServingSettings
from flows.report import RunReport
from online_models.scoring import MetricsSettings, Scoring
from online_models.tasks import task
from operators.decode import Decoder, DecodeStep
from operators.feature_drift_step import FeatureDriftSettings, FeatureDriftStep
from operators.feature_step import FeatureSettings, FeatureStep
from operators.featurize import Featurizer
from operators.label_check import LabelCheck
from operators.label_delay import LabelDelay
from operators.label_join import LabelJoin, LabelSettings
from operators.lateness import LatenessFilter
from operators.pipeline import Pipeline
from operators.records import Batch, RawBatch
from operators.sampling import SamplingSettings, StreamSample

NUMERIC = ("x", "early", "late")
CATEGORICAL = ("c", "new")


def raw_stream(rng: np.random.Generator, n_batches: int = 30) -> list[RawBatch]:
    """Raw batches of events (fields 'early' stop and 'late' start halfway, missing values,
    times a little out of order) and of their labels, arriving some batches later."""
    out, waiting, i = [], [], 0
    for b in range(n_batches):
        roles, values, ts = [], [], []
        for _ in range(int(rng.integers(0, 60))):
            event: dict[str, Any] = {"id": i, "ts": i * 10 + int(rng.integers(-30, 30))}
            if rng.random() > 0.1:
                event["x"] = float(rng.normal())
            if rng.random() > 0.1:
                event["c"] = f"k{rng.zipf(1.5) % 20}"
            if b < n_batches // 2:
                event["early"] = float(rng.normal(5.0))
            else:
                event["late"] = float(rng.lognormal())
                event["new"] = f"n{rng.integers(3)}"
            event["w"] = float(rng.exponential())
            roles.append("events")
            values.append(event)
            ts.append(i * 10)
            if rng.random() < 0.9:
                waiting.append((i, int(event.get("x", 0.0) > 0)))
            i += 1
        rng.shuffle(waiting)
        for j, y in waiting[: int(rng.integers(0, 40))]:
            roles.append("labels")
            values.append({"id": j, "label": y})
            ts.append(i * 10)
        del waiting[:40]
        n = len(values)
        out.append(
            RawBatch(0.0, roles, ["t/0"] * n, list(range(b * 1000, b * 1000 + n)), ts, values)
        )
    return out


DECODE = DecodeStep(Decoder(NUMERIC, CATEGORICAL, meta=("w",)))


def batches(rng: np.random.Generator) -> list[Batch]:
    return [out for r in raw_stream(rng) for out in DECODE.update(r)]


FEATURES = FeatureSettings(numeric=NUMERIC, categorical=CATEGORICAL, max_categories=4)


def featured(rng: np.random.Generator) -> list[Batch]:
    step = FeatureStep(Featurizer(FEATURES.spec(0)))
    return [out for b in batches(rng) for out in step.update(b)]


def job(seed: int, **sections: Any) -> Any:
    raw = {
        "job": {"seed": seed},
        "source": {"kind": "file", "path": "unused.jsonl"},
        "features": {"numeric": list(NUMERIC), "categorical": list(CATEGORICAL)},
        "models": [
            {"name": "river", "estimator": "logistic_regression"},
            {"name": "fast", "estimator": "fast_logistic_regression"},
            {"name": "tree", "estimator": "hoeffding_tree"},
        ],
        "labels": {"ttl_ms": 400},
        "drift": {"warmup": 20, "action": "challenger", "challenger": {"sample": 30}},
        "metrics": {"window": 50, "top_k": 2},
        "sinks": {n: {"kind": "stdout"} for n in ("predictions", "alerts", "dead_letters")},
        **sections,
    }
    return parse(raw)


def pipeline(seed: int, **sections: Any) -> Pipeline:
    return build_pipeline(job(seed, **sections))


def learn(seed: int, **sections: Any) -> Any:
    return pipeline(seed, **sections)["learn"]


def observe(item: Any) -> Any:
    """What a step's output shows, without the wall-clock parts."""
    if isinstance(item, Batch):
        return {
            f.name: getattr(item, f.name)
            for f in dataclasses.fields(item)
            if f.name not in ("read_at", "learn")
        } | {"learn": _stable(item.learn)}
    if isinstance(item, dict):
        return _stable(item)
    return item


def _stable(summary: Any) -> Any:
    if not isinstance(summary, dict):
        return summary
    volatile = ("elapsed_s", "throughput_eps", "latency_ms", "latency", "saved_at", "timeline")
    return {k: _stable(v) for k, v in summary.items() if k not in volatile}


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[int], Any]
    feed: Callable[[Any, Any], Any]
    items: Callable[[np.random.Generator], list[Any]]


def _update(step: Any, item: Any) -> Any:
    return [observe(out) for out in step.update(item)]


def _join(j: LabelJoin, item: Batch) -> Any:
    out = j.run(item.events, item.labels)
    j.settle(item.events, {k: f"payload {k}" for k in out.waiting})
    return out, dict(j.counts), len(j)


CLASSIFICATION = task("classification")
ARMS = ["a", "b", "c"]


def _serve(s: Serving, item: tuple[list[str], np.ndarray, np.ndarray]) -> Any:
    keys, rewards, probs = item
    n = len(keys)
    kinds = np.array([0, 1] * n, dtype=np.int8)  # each event, then its label
    available = np.ones((n, len(ARMS)), dtype=bool)
    served = s.run(kinds, available, rewards, np.arange(n), np.full(n, -1), probs,
                   list(range(n)), keys, [1.0] * len(ARMS))  # fmt: skip
    return served, s.summary(ARMS)


def _serving_items(rng: np.random.Generator) -> list[Any]:
    out = []
    for _ in range(40):
        n = int(rng.integers(1, 50))
        rewards = (rng.random((n, len(ARMS))) < [0.4, 0.6, 0.5]).astype(float)
        out.append(([f"k{rng.integers(100)}" for _ in range(n)], rewards, rng.random(n) + 0.01))
    return out


def _score(s: Scoring, item: tuple[list[int], list[Any], list[Any]]) -> Any:
    arms, ys, preds = item
    s.serve(arms, preds)
    probas = [{True: 0.7, False: 0.3} if p else {True: 0.2, False: 0.8} for p in preds]
    s.score(ys, preds, probas, {"country": [f"c{a}" for a in arms]})
    return s.summary()


def _scoring_items(rng: np.random.Generator) -> list[Any]:
    out = []
    for _ in range(40):
        n = int(rng.integers(0, 60))
        out.append((rng.integers(0, 3, n).tolist(), (rng.random(n) < 0.5).tolist(),
                    [None if r < 0.05 else bool(r < 0.6) for r in rng.random(n)]))  # fmt: skip
    return out


CASES = [
    Case("LabelJoin", lambda s: LabelJoin(LabelSettings(ttl_ms=300, max_pending=50)), _join,
         batches),
    Case("LatenessFilter", lambda s: LatenessFilter(20), _update, batches),
    Case("LabelCheck", lambda s: LabelCheck(("river",)), _update, batches),
    Case("LabelDelay", lambda s: LabelDelay(7), _update, batches),
    *[
        Case(f"StreamSample-{kind}",
             lambda s, k=kind: StreamSample(SamplingSettings(k, 10, "w", 3, every_events=25), s),
             _update, batches)
        for kind in ("uniform", "weighted", "stratified")
    ],
    *[
        Case(f"FeatureDriftStep-{ref}",
             lambda s, r=ref: FeatureDriftStep(
                 FeatureDriftSettings(enabled=True, window=40, reference=r, min_count=5,
                                      action="reset_reference"), NUMERIC, CATEGORICAL),
             _update, batches)
        for ref in ("fixed", "previous")
    ],
    Case("FeatureStep", lambda s: FeatureStep(Featurizer(FEATURES.spec(s))), _update, batches),
    Case("DecodeStep", lambda s: DecodeStep(Decoder(NUMERIC, CATEGORICAL, meta=("w",))), _update,
         raw_stream),
    Case("LearnStep-bandit", learn, _update, featured),
    Case("LearnStep-champion", lambda s: learn(
        s, deployment={"mode": "champion_challenger", "params": {"window": 40, "min_events": 20}}),
        _update, featured),
    Case("LearnStep-thompson-bandit-feedback", lambda s: learn(
        s, selection={"policy": "thompson", "feedback": "bandit"}), _update, featured),
    Case("Serving", lambda s: Serving.build(ServingSettings(), ARMS, s), _serve, _serving_items),
    Case("Scoring", lambda s: Scoring(MetricsSettings(window=30, slices=("country",)),
                                      CLASSIFICATION, ARMS), _score, _scoring_items),
    Case("LearnStep-reset", lambda s: learn(
        s, drift={"warmup": 20, "action": "reset_model", "params": {"delta": 0.5}}),
        _update, featured),
    Case("OutputGuard", lambda s: pipeline(s)["output_guard"], _update,
         lambda rng: [out for b in featured(rng) for out in learn(0).update(b)]),
    Case("RunReport", lambda s: RunReport(), _update, featured),
    Case("Pipeline", pipeline, _update, raw_stream),
]  # fmt: skip
IDS = [c.name for c in CASES]


def _run(case: Case, step: Any, items: list[Any]) -> list[Any]:
    return [case.feed(step, item) for item in items]


def _same(a: Any, b: Any) -> bool:
    """Exact equality, recursively, NaN equal to NaN, arrays by value."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and _same(dataclasses.asdict(a), dataclasses.asdict(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pickle_round_trip_mid_stream_then_identical_output(case: Case) -> None:
    items = case.items(np.random.default_rng(1))
    step = case.build(3)
    _run(case, step, items[:15])
    clone = pickle.loads(pickle.dumps(step))
    assert _same(_run(case, clone, items[15:]), _run(case, step, items[15:]))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_same_seed_same_input_same_output(case: Case) -> None:
    first = _run(case, case.build(7), case.items(np.random.default_rng(2)))
    second = _run(case, case.build(7), case.items(np.random.default_rng(2)))
    assert _same(first, second)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_input_is_never_modified(case: Case) -> None:
    items = case.items(np.random.default_rng(3))
    before = copy.deepcopy(items)
    _run(case, case.build(0), items)
    assert _same(items, before)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_pickled_state_stays_bounded(case: Case) -> None:
    items = case.items(np.random.default_rng(4))
    step = case.build(0)
    _run(case, step, items[:15])
    half = len(pickle.dumps(step))
    _run(case, step, items[15:])
    _run(case, step, items[15:])
    full = len(pickle.dumps(step))
    assert full <= 2 * half + 50_000, (half, full)
