"""The run report page: one self-contained HTML file with the run's plots embedded.

Drawn from a run summary (its ``timeline`` section, recorded by the report step, and its
alerts) with matplotlib, imported here only, when a page is written (it costs the job about 30
MB it does not otherwise need). The plots: the served and per-model rolling metric over the
stream with the drift alerts marked at their positions; the share of predictions each model
served; throughput and latency over time; feature-drift p-values per feature and window; label
latency. A table repeats the summary's headline numbers.

``riverbed run --report DIR`` and ``riverbed demo`` write it; ``riverbed report RUN_DIR``
rebuilds it from ``RUN_DIR/summary.json``.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

import orjson

__all__ = ["write_page", "render_page", "PAGE_NAME"]

PAGE_NAME = "report.html"
# matplotlib's tab10 palette.
_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def write_page(summary: dict[str, Any], directory: str | os.PathLike[str]) -> Path:
    """Write ``directory/report.html`` (and ``summary.json`` if it is not there); return the
    page's path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "summary.json").exists():
        (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_SERIALIZE_NUMPY))
    page = out / PAGE_NAME
    tmp = page.with_suffix(".tmp")
    tmp.write_text(render_page(summary), encoding="utf-8")
    os.replace(tmp, page)
    return page


def render_page(summary: dict[str, Any]) -> str:
    """The page of ``summary`` as HTML text."""
    import matplotlib

    matplotlib.use("Agg")
    points = summary.get("timeline", {}).get("points", [])
    figures = [
        ("Served and per-model metric over the stream", _metric_plot(summary, points), ""),
        ("Share of predictions each model served", _share_plot(points), ""),
        ("Throughput and latency over time", _speed_plot(points), ""),
        (
            "Feature drift: p-value of each window test",
            _feature_plot(summary),
            " (no window test: [feature_drift] is off, or the stream was shorter than its "
            "reference and first window)",
        ),
        ("Label latency", _label_plot(points), ""),
    ]
    body = [f"<h1>riverbed run report</h1>{_table(summary)}"]
    for title, png, why in figures:
        body.append(f"<h2>{html.escape(title)}</h2>")
        if png is None:
            body.append(f"<p class='none'>nothing to plot in this run{html.escape(why)}</p>")
        else:
            data = base64.b64encode(png).decode("ascii")
            body.append(f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>")
    body.append(_alerts_table(summary))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>riverbed run report</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{padding:2px 10px;text-align:right;"
        "border-bottom:1px solid #ddd}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}.none{color:#888}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )


# --- tables -------------------------------------------------------------------------------------


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def _table(s: dict[str, Any]) -> str:
    served = s.get("served", {})
    lat = s.get("latency_ms", {})
    rows = [
        ("events in", _num(s.get("events_in"))),
        ("events bad", _num(s.get("events_bad"))),
        ("predictions", _num(s.get("predictions"))),
        (f"served {served.get('metric', '')}", _num(served.get("value"))),
        ("throughput (events/s)", _num(s.get("throughput_eps"), 0)),
        (
            "latency p50 / p95 / p99 (ms)",
            " / ".join(_num(lat.get(q), 2) for q in ("p50", "p95", "p99")),
        ),
        ("alerts", _num(s.get("drift_alerts"))),
        ("elapsed (s)", _num(s.get("elapsed_s"), 1)),
    ]
    head = "".join(f"<tr><td>{html.escape(k)}</td><td class='v'>{v}</td></tr>" for k, v in rows)
    models = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(m.get('estimator')))}</td>"
        f"<td class='v'>{_num(m.get('value'))}</td><td class='v'>{_num(m.get('events_learned'))}"
        f"</td><td class='v'>{_num(s.get('selection', {}).get(name, 0))}</td></tr>"
        for name, m in s.get("models", {}).items()
    )
    return (
        f"<table id='summary'>{head}</table><table id='models'><tr><th>model</th>"
        f"<th>estimator</th><th>{html.escape(served.get('metric', 'metric'))}</th>"
        f"<th>learned</th><th>served</th></tr>{models}</table>"
    )


def _alerts_table(s: dict[str, Any]) -> str:
    alerts = sorted(s.get("drift", []), key=lambda a: a["position"])
    if not alerts:
        return "<h2>Alerts</h2><p class='none'>no alerts</p>"
    rows = "".join(
        f"<tr><td>{_num(a['position'])}</td><td>{html.escape(a['kind'])}</td>"
        f"<td>{html.escape(a['detector'])}</td>"
        f"<td>{html.escape(str(a.get('model') or a.get('feature') or ''))}</td>"
        f"<td>{html.escape(str(a.get('severity') or ''))}</td></tr>"
        for a in alerts
    )
    return (
        f"<h2>Alerts ({s.get('drift_alerts', len(alerts)):,})</h2><table id='alerts'><tr>"
        f"<th>position</th><th>kind</th><th>detector</th><th>subject</th><th>severity</th>"
        f"</tr>{rows}</table>"
    )


# --- plots --------------------------------------------------------------------------------------


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _figure(height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, height))
    ax.grid(True, alpha=0.3)
    return fig, ax


def _metric_plot(s: dict[str, Any], points: list[dict[str, Any]]) -> bytes | None:
    if not points:
        return None
    fig, ax = _figure(4.2)
    x = [p["position"] for p in points]
    models = list(points[-1].get("models", {}))
    for i, name in enumerate(models):
        y = [p.get("models", {}).get(name) for p in points]
        ax.plot(x, _nan(y), color=_COLOURS[(i + 1) % len(_COLOURS)], lw=1, alpha=0.8, label=name)
    ax.plot(x, _nan([p.get("served") for p in points]), color="black", lw=2, label="served")
    metric = s.get("served", {}).get("metric", "metric")
    marked = set()
    for a in s.get("drift", []):
        kind = "model drift" if a.get("model") else "feature drift"
        if a["kind"] != "drift":
            kind = a["kind"]
        style = {"model drift": ("red", "--"), "feature drift": ("purple", ":")}.get(
            kind, ("green", "-.")
        )
        ax.axvline(
            a["position"], color=style[0], ls=style[1], lw=1, alpha=0.7,
            label=None if kind in marked else kind,
        )  # fmt: skip
        marked.add(kind)
    ax.set_xlabel("stream position (events)")
    ax.set_ylabel(f"rolling {metric}")
    ax.legend(loc="lower right", fontsize=8, ncol=2)
    return _png(fig)


def _share_plot(points: list[dict[str, Any]]) -> bytes | None:
    if len(points) < 2:
        return None
    models = list(points[-1].get("selection", {}))
    if not models:
        return None
    x, shares = [], {m: [] for m in models}
    for a, b in zip(points, points[1:]):
        d = {m: b["selection"].get(m, 0) - a.get("selection", {}).get(m, 0) for m in models}
        total = sum(d.values())
        if total <= 0:
            continue
        x.append(b["position"])
        for m in models:
            shares[m].append(d[m] / total)
    if not x:
        return None
    fig, ax = _figure(3.2)
    colours = [_COLOURS[(i + 1) % len(_COLOURS)] for i in range(len(models))]
    ax.stackplot(x, *[shares[m] for m in models], labels=models, colors=colours, alpha=0.85)
    ax.set_ylim(0, 1)
    ax.set_xlabel("stream position (events)")
    ax.set_ylabel("share of served predictions")
    ax.legend(loc="upper right", fontsize=8)
    return _png(fig)


def _intervals(points: list[dict[str, Any]], count: str) -> list[tuple[int, int]]:
    """Neighbouring point pairs of the same execution whose ``count`` grew."""
    return [
        (i, i + 1)
        for i in range(len(points) - 1)
        if points[i].get("execution") == points[i + 1].get("execution")
        and points[i + 1].get(count, 0) > points[i].get(count, 0)
    ]


def _speed_plot(points: list[dict[str, Any]]) -> bytes | None:
    pairs = _intervals(points, "events")
    if not pairs:
        return None
    import matplotlib.pyplot as plt

    t0 = points[0]["t"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True)
    x, rate, mean, high = [], [], [], []
    for i, j in pairs:
        a, b = points[i], points[j]
        dt = b["t"] - a["t"]
        x.append((b["t"] - t0) / 60)
        rate.append((b["events"] - a["events"]) / dt if dt > 0 else float("nan"))
        n = b["latencies"] - a["latencies"]
        mean.append((b["latency_ms"] - a["latency_ms"]) / n if n else float("nan"))
        high.append(b.get("max_latency_ms"))
    top.plot(x, rate, color=_COLOURS[0], marker=".", lw=1)
    top.set_ylabel("events/s")
    bottom.plot(x, mean, color=_COLOURS[1], marker=".", lw=1, label="mean")
    bottom.plot(x, _nan(high), color=_COLOURS[3], lw=1, alpha=0.7, label="max")
    bottom.set_yscale("log")
    bottom.set_ylabel("batch latency (ms)\nsource read to report")
    bottom.set_xlabel("minutes since the first point")
    bottom.legend(loc="upper right", fontsize=8)
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        for k in range(1, len(points)):
            if points[k].get("execution") != points[k - 1].get("execution"):
                ax.axvline((points[k]["t"] - t0) / 60, color="grey", ls="--", lw=1)
    return _png(fig)


def _feature_plot(s: dict[str, Any]) -> bytes | None:
    tests = s.get("timeline", {}).get("feature_tests", {})
    series = {k: v for k, v in tests.items() if any(p is not None for _, p, _ in v)}
    if not series:
        return None
    fig, ax = _figure(4.2)
    for i, (name, values) in enumerate(sorted(series.items())):
        x = [pos for pos, p, _ in values if p is not None]
        y = [max(p, 1e-300) for _, p, _ in values if p is not None]
        style = "-" if i < len(_COLOURS) else "--"
        ax.plot(x, y, style, marker=".", lw=1, color=_COLOURS[i % len(_COLOURS)], label=name)
    ax.set_yscale("log")
    ax.axhline(0.01, color="grey", ls="--", lw=1, label="p = 0.01")
    ax.set_xlabel("stream position of the window's last event")
    ax.set_ylabel("p-value (log)")
    ax.legend(loc="lower left", fontsize=7, ncol=3)
    return _png(fig)


def _label_plot(points: list[dict[str, Any]]) -> bytes | None:
    pairs = _intervals(points, "labels")
    if not pairs:
        return None
    fig, ax = _figure(3.2)
    x, mean, high = [], [], []
    for i, j in pairs:
        a, b = points[i], points[j]
        n = b["labels"] - a["labels"]
        x.append(b["position"])
        mean.append((b["label_latency_ms"] - a["label_latency_ms"]) / n / 1000)
        high.append(
            None if b.get("max_label_latency_ms") is None else b["max_label_latency_ms"] / 1000
        )
    ax.plot(x, mean, color=_COLOURS[2], marker=".", lw=1, label="mean")
    ax.plot(x, _nan(high), color=_COLOURS[3], lw=1, alpha=0.7, label="max")
    ax.set_xlabel("stream position (events)")
    ax.set_ylabel("event time to label time (s)")
    ax.legend(loc="upper right", fontsize=8)
    return _png(fig)


def _nan(values: list[Any]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]
