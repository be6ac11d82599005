"""Run ``riverbed run JOB`` in a child process and watch its memory.

``python -m tests.integration.rss JOB.toml [PROGRESS_FILE]`` prints one JSON line: the
child's peak RSS (``ru_maxrss`` of the waited child, the kernel's high-water mark) and RSS
samples taken every 0.25 s with the size of ``PROGRESS_FILE`` (e.g. the predictions file), to
see whether memory grows with the stream. Run it in a fresh process: ``RUSAGE_CHILDREN``
covers every child this process waited for.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from tests.integration.procs import ROOT, child_env


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def watch(job: str, progress: str | None = None, every_s: float = 0.25) -> dict[str, Any]:
    import subprocess

    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", job],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    samples: list[tuple[float, int, int]] = []
    while proc.poll() is None:
        kb = rss_kb(proc.pid)
        done = Path(progress).stat().st_size if progress and Path(progress).exists() else 0
        if kb is not None:
            samples.append((round(time.monotonic() - began, 2), kb, done))
        time.sleep(every_s)
    err = proc.stderr.read().decode() if proc.stderr else ""
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {
        "returncode": proc.returncode,
        "peak_rss_mb": round(peak / 1024, 1),
        "elapsed_s": round(time.monotonic() - began, 1),
        "samples": samples,
        "stderr_tail": err[-2000:],
    }


if __name__ == "__main__":
    result = watch(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print(orjson.dumps(result).decode())
