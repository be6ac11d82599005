"""The run report page of a real run (``riverbed run --report``), rebuilt by ``riverbed
report``, rendered by a headless browser; and the timeline behind it, bounded and resumed."""

from __future__ import annotations

import base64
import io
import pickle
import re
import shutil
import subprocess
import sys
import time

import matplotlib.image
import numpy as np
import orjson
import pytest

from flows.report import RunReport
from flows.timeline import Timeline
from operators.records import Batch, Events, Labels

CONFIG = """
[source]
kind = "synthetic"
events = 4000
drift_at = 2000
[features]
numeric = ["salary", "commission", "age", "hvalue", "hyears", "loan"]
categorical = ["elevel", "car", "zipcode"]
[batch]
max_events = 200
[[models]]
name = "a"
estimator = "fast_logistic_regression"
[[models]]
name = "b"
estimator = "river.naive_bayes.GaussianNB"
[feature_drift]
enabled = true
window = 500
[metrics]
window = 500
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run with ``--report``: its directory, summary and page."""
    tmp = tmp_path_factory.mktemp("run-page")
    (tmp / "job.toml").write_text(CONFIG)
    out = tmp / "run"
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", str(tmp / "job.toml"), "--report", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = orjson.loads((out / "summary.json").read_bytes())
    return out, summary, (out / "report.html").read_text()


def _images(page: str) -> list[np.ndarray]:
    found = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    return [matplotlib.image.imread(io.BytesIO(base64.b64decode(d)), format="png") for d in found]


def test_the_page_embeds_every_plot_and_they_decode(run):
    _out, _summary, page = run
    assert "<img" in page and "src='http" not in page and "<script" not in page
    images = _images(page)
    assert len(images) == 5  # metric, shares, speed, feature drift, label latency
    for img in images:
        assert img.shape[0] > 200 and img.shape[1] > 500
        assert img[..., :3].std() > 0.05  # drawn on, not blank


def test_the_page_shows_the_numbers_of_the_run_summary(run):
    _out, s, page = run
    cells = dict(re.findall(r"<tr><td>([^<]+)</td><td class='v'>([^<]*)</td></tr>", page))
    assert cells["events in"] == f"{s['events_in']:,}"
    assert cells["predictions"] == f"{s['predictions']:,}"
    assert cells[f"served {s['served']['metric']}"] == f"{s['served']['value']:,.4f}"
    assert cells["alerts"] == f"{s['drift_alerts']:,}"
    assert cells["throughput (events/s)"] == f"{s['throughput_eps']:,.0f}"
    for name, m in s["models"].items():
        assert f"<td class='v'>{m['value']:,.4f}</td>" in page.split(f"<td>{name}</td>")[1]
    assert page.count("<tr><td>") >= len(s["drift"])  # every alert is in the alerts table


def test_the_timeline_covers_the_run(run):
    _out, s, _page = run
    t = s["timeline"]
    points = t["points"]
    assert points[-1]["position"] == s["predictions"] == 4000
    assert points[-1]["events"] == s["events_in"]
    assert points[-1]["selection"] == s["selection"]
    # Windows of 500 events after the first (the reference): one test per window and feature.
    positions = {p for series in t["feature_tests"].values() for p, _, _ in series}
    assert positions == set(range(1000, 4001, 500))


def test_riverbed_report_rebuilds_the_page(run):
    out, _s, page = run
    (out / "report.html").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "report", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    rebuilt = (out / "report.html").read_text()
    strip = lambda p: re.sub(r"base64,[^']+", "", p)  # noqa: E731
    assert strip(rebuilt) == strip(page)
    assert len(_images(rebuilt)) == 5


def test_riverbed_report_names_a_missing_summary(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "report", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "summary.json" in done.stderr and "Traceback" not in done.stderr


def test_a_headless_browser_renders_the_page(run, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package chromium)")
    out, _s, _page = run
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
            "--window-size=1200,2400", (out / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    img = matplotlib.image.imread(shot)[..., :3]
    dark = (img.mean(axis=2) < 0.5).mean()
    assert img.shape[:2] == (2400, 1200)
    assert 0.01 < dark < 0.5, dark  # text and plot lines on a white page
    assert (np.abs(img[..., 0] - img[..., 2]) > 0.2).mean() > 0.001  # coloured plot lines


def _batch(n: int, start: int) -> Batch:
    ids = [str(i) for i in range(start, start + n)]
    return Batch(
        Events.of([{}] * n, ids=ids),
        Labels.of(ids, [1] * n),
        read_at=time.time(),
        label_latency_ms=np.full(n, 7.0),
    )


def test_a_resumed_report_keeps_the_timeline_of_the_run_before():
    r = RunReport()
    for k in range(20):
        r.update(_batch(100, 100 * k))
    resumed = pickle.loads(pickle.dumps(r))
    resumed.begin_execution()
    for k in range(20, 40):
        resumed.update(_batch(100, 100 * k))
    points = resumed.summary()["timeline"]["points"]
    assert {p["execution"] for p in points} == {1, 2}
    assert points[-1]["events"] == 4000 and points[0]["events"] < 2000
    assert points[-1]["labels"] == 4000 and points[-1]["label_latency_ms"] == 7.0 * 4000


def test_the_timeline_is_bounded_and_its_sums_and_maxima_stay_exact():
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 40, size=5000)
    values = rng.exponential(size=5000)
    ends = np.cumsum(sizes)
    t = Timeline(max_points=50, stride=7)
    peak = 0.0
    for end, value, total in zip(ends.tolist(), values.tolist(), np.cumsum(values).tolist()):
        peak = max(peak, value)
        if t.due(end):
            t.add(end, {"sum": total, "max_v": peak})
            peak = 0.0
        assert len(t.points) < 50
    assert len(t.points) >= 25
    # Each kept point: the running sum at its position, the maximum over its interval (numpy).
    kept = [p["position"] for p in t.points]
    for a, b, p in zip([0, *kept], kept, t.points):
        assert p["sum"] == pytest.approx(values[ends <= b].sum(), rel=1e-12)
        assert p["max_v"] == values[(ends > a) & (ends <= b)].max()
