from __future__ import annotations

import pickle

import numpy as np

from operators.label_join import LabelJoin, LabelSettings
from operators.records import Events, Labels


def events(ids, ts, seq=None):
    e = Events.of([{}] * len(ids), ids=ids, ts_ms=ts)
    if seq is None:
        return e
    return Events(e.ids, e.ts_ms, e.sources, e.numeric, e.categorical, (), (), {},
                  np.asarray(seq, dtype=np.int64))  # fmt: skip


def labels(ids, ts, ys, seq=None):
    lab = Labels.of(ids, ys, ts)
    if seq is None:
        return Labels(lab.ids, lab.ts_ms, lab.ys, lab.sources, np.full(len(ids), 10**9))
    return Labels(lab.ids, lab.ts_ms, lab.ys, lab.sources, np.asarray(seq, dtype=np.int64))


def waiting(j, evs, payloads):
    out = j.run(evs, Labels())
    j.settle(evs, {k: payloads[k] for k in out.waiting})
    return out


def test_late_labels_join_their_frozen_payload_once():
    j = LabelJoin(LabelSettings(ttl_ms=10_000))
    waiting(j, events(["a", "b"], [0, 1]), [{"x": 1}, {"x": 2}])
    out = j.run(Events(), labels(["a"], [5], [1]))
    assert out.waited == [{"x": 1}] and out.ys == [1] and out.event.tolist() == [-1]
    assert j.run(Events(), labels(["a"], [6], [0])).kinds.tolist() == []  # duplicate label
    assert j.counts["duplicate_labels"] == 1 and j.counts["joined"] == 1
    assert len(j) == 1


def test_a_label_before_its_event_waits_then_expires():
    j = LabelJoin(LabelSettings(ttl_ms=100, early_ttl_ms=50))
    j.run(Events(), labels(["a"], [0], [1]))
    out = j.run(events(["a"], [10]), Labels())
    assert out.kinds.tolist() == [0, 1] and out.event.tolist() == [0, 0] and out.ys == [1]
    j.run(Events(), labels(["never"], [20], [1]))
    j.run(events(["z"], [100]), Labels())  # event time moves on past 20 + 50
    assert j.counts["expired_labels"] == 1 and j.counts["early_labels"] == 2


def test_predictions_expire_after_the_ttl_in_event_time():
    j = LabelJoin(LabelSettings(ttl_ms=100))
    waiting(j, events(["a", "b"], [0, 50]), ["pa", "pb"])
    waiting(j, events(["c"], [120]), ["pc"])
    assert j.counts["expired_predictions"] == 1
    assert j.run(Events(), labels(["a", "b"], [121, 121], [1, 1])).waited == ["pb"]


def test_duplicate_events_are_not_joined_twice():
    j = LabelJoin(LabelSettings(ttl_ms=1000))
    out = waiting(j, events(["a", "a"], [0, 1]), ["first", "second"])
    assert out.predict.tolist() == [True, False] and j.counts["duplicate_events"] == 1
    assert j.run(Events(), labels(["a"], [2], [1])).waited == ["first"]
    assert j.is_duplicate("a")


def test_items_are_joined_in_their_merged_order_within_a_batch():
    j = LabelJoin(LabelSettings(ttl_ms=1000))
    # label "b" comes before event "b" (it waits), label "a" right after event "a"
    out = j.run(events(["a", "b"], [0, 1], seq=[0, 4]), labels(["b", "a"], [0, 2], [1, 0],
                                                               seq=[2, 1]))  # fmt: skip
    assert out.kinds.tolist() == [0, 1, 0, 1] and out.event.tolist() == [0, 0, 1, 1]
    assert out.ys == [0, 1] and out.waiting == [] and j.counts["early_labels"] == 1


def test_the_same_items_cut_into_other_batches_join_the_same_way():
    rng = np.random.default_rng(5)
    n = 600
    ev = [(i, f"e{i % 450}", 10 * i) for i in range(n)]  # duplicates too
    lab = [(int(rng.integers(0, n)), f"e{int(rng.integers(0, 500))}") for _ in range(500)]
    items = sorted([(2 * i, "e", eid, ts) for i, eid, ts in ev]
                   + [(2 * at + 1, "l", lid, 10 * at + 5) for at, lid in lab])  # fmt: skip

    def run(cuts):
        j, start, got = LabelJoin(LabelSettings(ttl_ms=300, early_ttl_ms=80, max_pending=60)), 0, []
        for size in cuts:
            part = items[start : start + size]
            start += size
            e = [x for x in part if x[1] == "e"]
            la = [x for x in part if x[1] == "l"]
            evs = events([x[2] for x in e], [x[3] for x in e], [x[0] for x in e])
            out = j.run(evs, labels([x[2] for x in la], [x[3] for x in la],
                                    [x[0] for x in la], [x[0] for x in la]))  # fmt: skip
            j.settle(evs, {k: evs.ids[k] for k in out.waiting})
            joined = [(w if w is not None else evs.ids[k]) for k, w in
                      zip(out.event[out.kinds == 1].tolist(), out.waited)]  # fmt: skip
            got.append((joined, out.ys))
        flat = [(a, y) for joined, ys in got for a, y in zip(joined, ys)]
        return flat, dict(j.counts), len(j)

    whole = run([len(items)])
    assert whole[1]["joined"] > 20 and whole[1]["expired_predictions"] > 0
    assert run([1] * len(items)) == whole
    assert run([7] * (len(items) // 7 + 1)) == whole


def test_memory_stays_bounded_when_labels_never_come():
    j = LabelJoin(LabelSettings(ttl_ms=10**12, max_pending=1000))
    for start in range(0, 200_000, 10_000):
        ids = [str(i) for i in range(start, start + 10_000)]
        waiting(j, events(ids, list(range(start, start + 10_000))), [None] * 10_000)
    assert len(j) == 1000
    assert j.counts["expired_predictions"] == 200_000 - 1000
    assert len(pickle.dumps(j)) < 100_000


def _same(a, b):
    for field in ("predict", "kinds", "event", "label_ts", "seq"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert (a.waited, a.ys, a.waiting) == (b.waited, b.ys, b.waiting)


def test_the_inline_fast_path_gives_what_the_items_one_at_a_time_give():
    """Batches of events with their labels right after them take a vectorized path; on random
    streams (events waiting from earlier batches, duplicates, late events, labels ahead of their
    events, tight caps and TTLs) it must equal the item-by-item loop, output and state."""
    rng = np.random.default_rng(3)
    fast_paths = 0
    for trial in range(40):
        settings = LabelSettings(ttl_ms=int(rng.integers(1, 60)), early_ttl_ms=20,
                                 max_pending=int(rng.integers(1, 12)))  # fmt: skip
        fast, slow = LabelJoin(settings), LabelJoin(settings)
        t, seen = 0, ["e0"]
        for _ in range(30):
            n = int(rng.integers(1, 6))
            # mostly new ids, now and then one seen before (a duplicate)
            ids = [seen[int(rng.integers(len(seen)))] if rng.random() < 0.1
                   else f"e{int(rng.integers(10**9))}" for _ in range(n)]  # fmt: skip
            seen.extend(ids)
            ts = (t + rng.integers(-10, 10, n)).tolist()
            t += n
            ev = events(ids, ts, seq=2 * np.arange(n))
            kind = rng.integers(0, 4)
            if kind <= 1:  # inline labels, each right after its event
                lab = labels(ids, ts, [int(x) for x in rng.integers(0, 2, n)],
                             seq=2 * np.arange(n) + 1)  # fmt: skip
            elif kind == 2:  # no labels: these wait
                lab = Labels()
            else:  # labels of ids seen before (or not yet), after the events
                lids = [seen[int(i)] for i in rng.integers(0, len(seen), n)]
                lab = labels(lids, ts, [1] * n, seq=2 * n + np.arange(n))
            fast_paths += fast._all_inline(ev, lab)
            a, b = fast.run(ev, lab), slow._run_items(ev, lab)
            _same(a, b)
            payloads = {k: k for k in a.waiting}
            fast.settle(ev, payloads)
            slow.settle(ev, payloads)
            assert pickle.dumps(fast.__dict__) == pickle.dumps(slow.__dict__), trial
    assert fast_paths > 100  # the fast path was taken, and often
