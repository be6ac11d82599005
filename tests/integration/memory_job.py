"""The bounded-memory job: N events with N/2 distinct ids and a categorical feature of about
N/2 distinct values, from a JSON Lines file, through the whole flow (decode, featurize, label
join, a vectorized model, metrics, drift, report; predictions to a file).

``python -m tests.integration.memory_job N DIR`` writes ``DIR/events.jsonl`` (if missing) and
``DIR/job.toml``; the test runs the job in a child process and reads its peak RSS, and so can
an operator by hand (docs/OPERATIONS.md gives the command and the figures).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import orjson

from tests.integration.procs import write_config

T0 = 1_767_225_600_000
MAX_PENDING = 100_000  # ids remembered (duplicates) and predictions waiting


def write_events(path: Path, n: int, seed: int = 0) -> None:
    """Event i: id ``i mod n/2`` (every id twice, n/2 apart), a user out of about n/2."""
    rng = np.random.default_rng(seed)
    chunk = 100_000
    with open(path, "wb") as f:
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            x = rng.normal(size=(m, 3)).round(4).tolist()
            users = rng.integers(0, max(n // 2, 1), m).tolist()
            labels = (rng.random(m) < 0.5).tolist()
            out = []
            for j in range(m):
                i = lo + j
                row = {
                    "id": i % max(n // 2, 1),
                    "ts": T0 + i,
                    "x0": x[j][0],
                    "x1": x[j][1],
                    "x2": x[j][2],
                    "user": f"u{users[j]}",
                    "label": int(labels[j] ^ (x[j][0] > 0)),
                }
                out.append(orjson.dumps(row))
            f.write(b"\n".join(out) + b"\n")


def write_job(directory: Path, n: int) -> Path:
    events = directory / "events.jsonl"
    if not events.exists():
        write_events(events, n)
    return write_config(
        directory / "job.toml",
        {
            "job": {"name": "memory", "seed": 1},
            "source": {"kind": "file", "path": str(events)},
            "features": {
                "numeric": ["x0", "x1", "x2"],
                "categorical": ["user"],
                "max_categories": 64,
            },
            "batch": {"max_events": 2000},
            "labels": {"max_pending": MAX_PENDING},
            "models": [{"name": "lr", "estimator": "fast_logistic_regression"}],
            "sinks.predictions": {"kind": "jsonl", "path": str(directory / "predictions.jsonl")},
        },
    )


if __name__ == "__main__":
    size, where = int(sys.argv[1]), Path(sys.argv[2])
    where.mkdir(parents=True, exist_ok=True)
    print(write_job(where, size))
