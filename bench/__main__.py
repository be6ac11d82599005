"""Run every benchmark; write bench/results.json and bench/README.md (``make bench``).

Usage: ``python -m bench [--repeats N] [--only NAME ...]``. Each figure is the median of N
runs, ours and the baseline measured in the same run, reported as a ratio.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

MODULES = (
    "featurize", "reservoir", "linear", "river_flow", "drift", "drift_flow", "pipeline",
    "batch_overhead",
)  # fmt: skip
HERE = Path(__file__).parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=MODULES, default=list(MODULES))
    args = parser.parse_args()
    path = HERE / "results.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for name in args.only:
        started = time.monotonic()
        entries = importlib.import_module(f"bench.{name}").run(args.repeats)
        for entry in entries.values():
            entry["measured"] = time.strftime("%Y-%m-%d")
        results.update(entries)
        print(f"bench.{name}: {time.monotonic() - started:.0f} s", flush=True)
        for key, e in entries.items():
            print(f"  {key}: ratio {e['ratio']:.2f} (target {e['target']})", flush=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    write_readme(results)


def write_readme(results: dict[str, Any]) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    rows = [
        f"| `{k}` | {e['ours']:,.0f} | {e['baseline']:,.0f} | {e['unit']} | **{e['ratio']:.2f}** "
        f"| {e['target']} | {e['baseline_is'].replace('|', chr(92) + '|')} |"
        for k, e in sorted(results.items())
    ]
    text = f"""# Benchmarks

Produced by `make bench` (`python -m bench --repeats 5`): each figure is the median of 5 runs,
ours and the baseline measured in the same run, so the ratio is what counts; absolute numbers
move with the load of the machine. Machine: {machine()}. Commit: {commit or "-"}.

| benchmark | ours | baseline | unit | ratio | target | baseline is |
| --- | ---: | ---: | --- | ---: | ---: | --- |
{chr(10).join(rows)}

Raw figures: [results.json](results.json).
"""
    (HERE / "README.md").write_text(text)


if __name__ == "__main__":
    main()
