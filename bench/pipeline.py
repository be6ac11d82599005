"""pipeline_vs_river and pipeline_vs_numpy: the whole flow against the same work without it.

The work (issue 11): 200,000 Agrawal events (concept 0 drifting to 4 halfway; 2% of the numeric
values missing) from JSON Lines with inline labels; mean imputation, standard scaling and
one-hot encoding of 6 numeric and 3 categorical fields; three logistic regressions (SGD with
learning rates 0.005, 0.01 and 0.05) learning test-then-train, one event at a time; UCB1
choosing the served model; a uniform reservoir of 1,000 events; K-S drift of the numeric
features over tumbling windows of 1,000 events against the first; predictions to a JSON
Lines file.

- ours: ``riverbed``'s flow (``flows.runner.run_job``) on that job, batches of 1,000, the
  compiled ``fast_logistic_regression``, no error-drift detector (the work names none).
- River (``pipeline_vs_river``): the same in a plain loop: ``orjson.loads`` per line, River's
  ``StatImputer | StandardScaler`` + ``OneHotEncoder``, three River ``LogisticRegression``
  ``predict_proba_one`` then ``learn_one`` per event, UCB1 and Algorithm R in Python,
  ``scipy.stats.ks_2samp`` per feature per window, ``orjson.dumps`` per prediction.
- numpy (``pipeline_vs_numpy``): the same with riverbed's own parts and no engine: the decoder,
  the featurizer, the compiled learners' ``run``, the UCB1 rule's ``run``, the reservoir and the
  K-S monitor called in a bare loop over batches of 1,000 lines, predictions written with
  one ``orjson`` call per batch: the limit of this CPU for this work.

Equal results first: the three models' accuracies must be the same in all three (River's
learners are what the compiled ones are checked against to 1e-9), else the run fails. Each
figure is the median of ``repeats`` timed passes.

Run: ``python -m bench.pipeline [N]``.
"""

from __future__ import annotations

import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from river import compose, linear_model, optim, preprocessing, stats
from scipy.stats import ks_2samp

from bench.entry import entry
from flows import synthetic
from flows.config import parse
from flows.runner import run_job
from online_models.linear import LogisticRegression
from online_models.policies import UCB1
from operators.decode import Decoder
from operators.feature_drift import FeatureDriftMonitor
from operators.featurize import FeatureSpec, Featurizer
from operators.records import RawBatch
from operators.reservoir import UniformReservoir

__all__ = ["run"]

N = 200_000
BATCH = 1000
RATES = (0.005, 0.01, 0.05)
NAMES = tuple(f"lr_{r}" for r in RATES)
NUMERIC, CATEGORICAL = synthetic.NUMERIC, synthetic.CATEGORICAL
WINDOW = 1000
SAMPLE = 1000
MISSING = 0.02


def write_stream(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(path, "wb") as f:
        for row in synthetic.events(n, n // 2):
            for name in NUMERIC:
                if rng.random() < MISSING:
                    row[name] = None
            f.write(orjson.dumps(row) + b"\n")


def job(path: Path, out: Path) -> dict[str, Any]:
    return {
        "job": {"name": "bench-pipeline", "seed": 1},
        "source": {"kind": "file", "path": str(path)},
        "features": {
            "numeric": list(NUMERIC),
            "categorical": list(CATEGORICAL),
            "impute_default": "mean",
            "scaler": "standard",
            "max_categories": 32,
        },
        "batch": {"max_events": BATCH},
        "models": [
            {"name": m, "estimator": "fast_logistic_regression", "params": {"lr": r}}
            for m, r in zip(NAMES, RATES, strict=True)
        ],
        "selection": {"policy": "ucb1"},
        "sampling": {"kind": "uniform", "size": SAMPLE},
        "feature_drift": {"enabled": True, "detectors": ["ks"], "window": WINDOW},
        "drift": {"detector": "none"},  # the work names no error-drift detector
        "sinks": {"predictions": {"kind": "jsonl", "path": str(out)}},
    }


def ours(path: Path, out: Path) -> tuple[float, dict[str, float]]:
    cfg = parse(job(path, out))
    started = time.perf_counter()
    summary = run_job(cfg)
    elapsed = time.perf_counter() - started
    accuracy = {m: summary["models"][m]["metrics"]["cumulative"]["accuracy"] for m in NAMES}
    return summary["events_in"] / elapsed, accuracy


def _ucb1_choose(n: list[int], total: list[float], t: int) -> int:
    for k, count in enumerate(n):
        if count == 0:
            return k
    scores = [total[k] / n[k] + math.sqrt(2.0 * math.log(t) / n[k]) for k in range(len(n))]
    return max(range(len(n)), key=scores.__getitem__)


def river(path: Path, out: Path) -> tuple[float, dict[str, float]]:
    features = (
        compose.Select(*NUMERIC)
        | preprocessing.StatImputer(*[(f, stats.Mean()) for f in NUMERIC])
        | preprocessing.StandardScaler()
    ) + (compose.Select(*CATEGORICAL) | preprocessing.OneHotEncoder(drop_zeros=True))
    models = [linear_model.LogisticRegression(optimizer=optim.SGD(r)) for r in RATES]
    correct = [0] * len(models)
    n_arm, total_arm = [0] * len(models), [0.0] * len(models)
    rng = random.Random(1)
    sample: list[Any] = []
    reference: list[list[float]] | None = None
    window: list[list[float]] = [[] for _ in NUMERIC]
    seen = 0
    started = time.perf_counter()
    with open(path, "rb") as f, open(out, "wb") as sink:
        for line in f:
            row = orjson.loads(line)
            x = {k: row[k] for k in (*NUMERIC, *CATEGORICAL)}
            y = row["label"]
            z = features.transform_one(x)
            features.learn_one(x)
            answers = [m.predict_proba_one(z).get(True, 0.0) > 0.5 for m in models]  # predict_one
            for m in models:
                m.learn_one(z, y)
            arm = _ucb1_choose(n_arm, total_arm, seen + 1)
            sink.write(
                orjson.dumps({"id": row["id"], "model": NAMES[arm], "prediction": answers[arm]})
                + b"\n"
            )
            for k, a in enumerate(answers):
                hit = a == bool(y)
                correct[k] += hit
                n_arm[k] += 1
                total_arm[k] += hit
            seen += 1
            if len(sample) < SAMPLE:
                sample.append(row)
            else:
                j = int(rng.random() * seen)
                if j < SAMPLE:
                    sample[j] = row
            for j, name in enumerate(NUMERIC):
                if row[name] is not None:
                    window[j].append(row[name])
            if seen % WINDOW == 0:
                if reference is None:
                    reference = window
                else:
                    for a, b in zip(reference, window, strict=True):
                        ks_2samp(a, b)
                window = [[] for _ in NUMERIC]
    elapsed = time.perf_counter() - started
    return seen / elapsed, {m: c / seen for m, c in zip(NAMES, correct, strict=True)}


def numpy_script(path: Path, out: Path) -> tuple[float, dict[str, float]]:
    decoder = Decoder(NUMERIC, CATEGORICAL)
    featurizer = Featurizer(FeatureSpec(NUMERIC, CATEGORICAL, max_categories=32))
    models = [LogisticRegression(lr=r) for r in RATES]
    policy = UCB1(NAMES, seed=1)
    reservoir = UniformReservoir(SAMPLE, seed=1)
    drift = FeatureDriftMonitor(NUMERIC, window=WINDOW, detectors=("ks",))
    correct = np.zeros(len(models), dtype=np.int64)
    seen = 0
    started = time.perf_counter()
    with open(path, "rb") as f, open(out, "wb") as sink:
        lines = f.read().splitlines()
        for lo in range(0, len(lines), BATCH):
            chunk = lines[lo : lo + BATCH]
            n = len(chunk)
            offsets = list(range(lo, lo + n))
            raw = RawBatch(0.0, ["events"] * n, ["stream.jsonl"] * n, offsets, [0] * n, chunk)
            events, labels, _ = decoder.decode(raw)
            names, X = featurizer.transform_then_learn(events.numeric, events.categorical)
            ops = np.tile(np.array([0, 1], dtype=np.int8), n)
            rows = np.repeat(np.arange(n), 2)
            ys = np.asarray(labels.ys, dtype=bool)
            hits = np.empty((n, len(models)))
            for k, m in enumerate(models):
                hits[:, k] = np.asarray(m.run(X, names, ops, rows, ys)[0]) == ys
            correct += hits.sum(axis=0).astype(np.int64)
            served = policy.run(  # the same items: each event, then its label
                ops, np.ones((n, len(models)), dtype=bool), hits, np.arange(n),
                np.full(n, -1), np.full(n, np.nan), offsets,
            )  # fmt: skip
            reservoir.update(events.ids)
            drift.update(events.ts_ms, events.numeric, None, np.asarray(offsets))
            arms = served.arms
            sink.write(
                b"".join(
                    orjson.dumps({"id": i, "model": NAMES[a], "prediction": bool(h)}) + b"\n"
                    for i, a, h in zip(events.ids, arms, ys, strict=True)
                )
            )
            seen += n
    elapsed = time.perf_counter() - started
    return seen / elapsed, {m: c / seen for m, c in zip(NAMES, correct.tolist(), strict=True)}


def _same(a: dict[str, float], b: dict[str, float], what: str) -> None:
    for m in NAMES:
        if abs(a[m] - b[m]) > 1e-12:
            raise AssertionError(f"{what}: {m} accuracy {a[m]} != {b[m]}: results differ")


def run(repeats: int = 5, n: int = N) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "stream.jsonl", Path(tmp) / "predictions.jsonl"
        write_stream(path, min(n, 2000))
        ours(path, out)  # warm: the compiled kernels loaded once, as in a long-running job
        write_stream(path, n)
        flow, rv, bare = [], [], []
        for _ in range(repeats):
            eps, acc_ours = ours(path, out)
            flow.append(eps)
            eps, acc_river = river(path, out)
            rv.append(eps)
            eps, acc_numpy = numpy_script(path, out)
            bare.append(eps)
            _same(acc_ours, acc_river, "ours vs River")
            _same(acc_ours, acc_numpy, "ours vs numpy")
    accuracy = ", ".join(f"{m} {acc_ours[m]:.4f}" for m in NAMES)
    return entry(
        "pipeline_vs_river",
        flow,
        rv,
        target=20,
        baseline_is=f"{n:,} Agrawal events from JSON Lines, impute/scale/one-hot 6+3 fields, "
        "three LogisticRegressions (SGD 0.005/0.01/0.05), UCB1, uniform reservoir, K-S drift, "
        "predictions to JSON Lines: a plain loop of orjson, River's StatImputer|StandardScaler"
        " + OneHotEncoder and three River LogisticRegressions per event, Algorithm R, "
        f"scipy ks_2samp per window; equal accuracies ({accuracy})",
    ) | entry(
        "pipeline_vs_numpy",
        flow,
        bare,
        target=0.7,
        baseline_is="the same work as a bare script of riverbed's decoder, featurizer, "
        "compiled learners, UCB1 rule, reservoir and K-S monitor over batches of 1,000 lines, "
        f"no engine; equal accuracies ({accuracy})",
    )


if __name__ == "__main__":
    print(orjson.dumps(run(1, int(sys.argv[1]) if len(sys.argv) > 1 else N)).decode())
