from __future__ import annotations

from flows.report import RunReport, format_summary
from operators.records import Batch, DeadLetter, Events, Labels


def batch(n, start=0, dead=0, read_at=0.0):
    ids = [str(i) for i in range(start, start + n)]
    events = Events.of([{}] * n, ids=ids)
    labels = Labels.of(ids, [1] * n)
    dl = tuple(DeadLetter("malformed_json", "bad", f"t@{i}", b"{") for i in range(dead))
    return Batch(events, labels, dl, read_at)


def test_counts_accumulate_and_dead_letters_are_grouped_by_kind():
    r = RunReport()
    r.update(batch(10, dead=2))
    r.update(batch(5, start=10))
    s = r.on_eof()[0]
    assert (s["events_in"], s["events_bad"], s["labels_in"]) == (17, 2, 15)
    assert s["bad_reasons"] == {"malformed_json": 2}


def test_latency_percentiles_come_from_the_batches_read_time():
    import time

    r = RunReport()
    now = time.time()
    r.update(batch(90, read_at=now - 0.010))
    r.update(batch(10, read_at=now - 1.0))
    lat = r.summary()["latency_ms"]
    assert 9.5 < lat["p50"] < 12 and 990 < lat["p99"] < 1100


def test_progress_is_printed_on_ticks_and_the_table_renders(capsys):
    r = RunReport(progress=True)
    r.update(batch(3))
    r.on_tick(0.0)
    assert "3 events" in capsys.readouterr().err
    table = format_summary(r.summary())
    assert "events in" in table and "alerts: 0" in table


def test_the_progress_line_shows_the_rate_of_the_last_interval_and_the_lag():
    from flows.sources import PartitionProgress

    r = RunReport(progress=True)
    r.attach(None, lambda: [PartitionProgress("e", 0, 10, 1234, 2.0), PartitionProgress("l", 0, 5)])
    r.update(batch(1000))
    r.progress_line()
    line = r.progress_line()  # nothing new since the last line: the rate is 0, not the average
    assert "      0 events/s" in line and "lag     1,234" in line and "1,000 events" in line


def test_the_table_sorts_alerts_names_feature_windows_and_counts_the_kinds():
    from operators.records import Alert

    r = RunReport()
    feature = Alert(
        "drift", "ks", "age", 3000, model=False, severity="critical", p_value=1e-6,
        details={"window": {"start_position": 2001, "end_position": 3000}},
    )  # fmt: skip
    model = Alert("drift", "adwin", "lr", 1500, severity="critical")
    promotion = Alert(
        "promotion", "champion_challenger", "b", 2500, details={"from": "a", "to": "b"}
    )
    r.update(Batch(Events.of([{}]), alerts=(feature, model, promotion)))
    table = format_summary(r.summary())
    assert "alerts: 3 (1 drift on features, 1 drift on models, 1 promotion)" in table
    lines = [line for line in table.splitlines() if "at position" in line]
    assert [line.split("at position")[1].split()[0] for line in lines] == [
        "1,500",
        "2,500",
        "3,000",
    ]
    assert (
        "feature age" in lines[2]
        and "window 2,001-3,000" in lines[2]
        and "p-value 1e-06" in lines[2]
    )
    assert "a -> b" in lines[1]
