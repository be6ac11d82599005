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
