"""Running small jobs from JSON Lines files in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from flows.config import parse
from flows.runner import run_job


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def run_file(tmp_path: Path, rows: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    """Run a job over ``rows`` (inline labels) with config ``sections``; predictions are written
    to ``tmp_path/predictions.jsonl``."""
    source = {"kind": "file", "path": str(write_jsonl(tmp_path / "stream.jsonl", rows))}
    raw: dict[str, Any] = {
        "source": source | sections.pop("source", {}),
        "sinks": {"predictions": {"kind": "jsonl", "path": str(tmp_path / "predictions.jsonl")}},
    }
    raw.update(sections)
    return run_job(parse(raw))
