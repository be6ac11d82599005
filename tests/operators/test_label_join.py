from __future__ import annotations

import pickle

from operators.label_join import LabelJoin, LabelSettings


def test_late_labels_join_their_frozen_payload_once():
    j = LabelJoin(LabelSettings(ttl_ms=10_000))
    assert j.add_events(["a", "b"], [0, 1], [{"x": 1}, {"x": 2}]) == []
    assert j.add_labels(["a"], [5], [1]) == [("a", {"x": 1}, 1)]
    assert j.add_labels(["a"], [6], [0]) == []  # duplicate label ignored
    assert j.counts["duplicate_labels"] == 1 and j.counts["joined"] == 1
    assert len(j) == 1


def test_a_label_before_its_event_waits_then_expires():
    j = LabelJoin(LabelSettings(ttl_ms=100, early_ttl_ms=50))
    assert j.add_labels(["a"], [0], [1]) == []
    assert j.add_events(["a"], [10], ["pa"]) == [("a", "pa", 1)]
    assert j.add_labels(["never"], [20], [1]) == []
    j.add_events(["z"], [100], ["pz"])  # event time moves on past 20 + 50
    assert j.counts["expired_labels"] == 1 and j.counts["early_labels"] == 2


def test_predictions_expire_after_the_ttl_in_event_time():
    j = LabelJoin(LabelSettings(ttl_ms=100))
    j.add_events(["a", "b"], [0, 50], ["pa", "pb"])
    j.add_events(["c"], [120], ["pc"])
    assert j.counts["expired_predictions"] == 1
    assert j.add_labels(["a", "b"], [121, 121], [1, 1]) == [("b", "pb", 1)]


def test_duplicate_events_are_not_joined_twice():
    j = LabelJoin(LabelSettings(ttl_ms=1000))
    j.add_events(["a", "a"], [0, 1], ["first", "second"])
    assert j.counts["duplicate_events"] == 1
    assert j.add_labels(["a"], [2], [1]) == [("a", "first", 1)]
    assert j.is_duplicate("a")


def test_memory_stays_bounded_when_labels_never_come():
    j = LabelJoin(LabelSettings(ttl_ms=10**12, max_pending=1000))
    for start in range(0, 1_000_000, 10_000):
        ids = [str(i) for i in range(start, start + 10_000)]
        j.add_events(ids, range(start, start + 10_000), [None] * 10_000)
    assert len(j) == 1000
    assert j.counts["expired_predictions"] == 1_000_000 - 1000
    assert len(pickle.dumps(j)) < 100_000
