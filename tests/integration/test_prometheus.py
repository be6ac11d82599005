"""The job's Prometheus endpoint, scraped while a job runs and checked by Prometheus's own
``promtool check metrics``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from flows.broker import free_port


def test_metrics_endpoint_passes_promtool_while_a_job_runs(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    port = free_port()
    job = tmp_path / "job.toml"
    job.write_text(
        f"""
[job]
metrics_port = {port}
[source]
kind = "synthetic"
events = 10000000
[batch]
max_events = 200
[[models]]
name = "tree"
estimator = "hoeffding_adaptive_tree"
"""
    )
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(job)])
    try:
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                text = ""
            if "riverbed_model_metric{" in text:
                break
            time.sleep(0.5)
        assert "riverbed_events_total" in text and "riverbed_model_metric{" in text, text[-500:]
        events = [line for line in text.splitlines() if line.startswith("riverbed_events_total")]
        assert float(events[0].split()[-1]) > 0
        check = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
