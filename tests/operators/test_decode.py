from __future__ import annotations

import pytest

from operators.decode import Decoder
from operators.records import RawBatch

D = Decoder(numeric=("x", "y"), categorical=("c",), required=("x",))


def one(value, role="events", decoder=D):
    return decoder.decode(RawBatch(0.0, [role], ["t/0"], [0], [99], [value]))


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b'{"id": 1, "x": ', "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b'{"x": 1.0}', "missing_id"),
        (b'{"id": true, "x": 1.0}', "missing_id"),
        (b'{"id": {"a": 1}, "x": 1.0}', "missing_id"),
        (b'{"id": 1}', "missing_feature"),
        (b'{"id": 1, "x": null}', "missing_feature"),
        (b'{"id": 1, "x": "1.5"}', "wrong_type"),
        (b'{"id": 1, "x": true}', "wrong_type"),
        (b'{"id": 1, "x": [1]}', "wrong_type"),
        (b'{"id": 1, "x": NaN}', "not_finite"),
        (b'{"id": 1, "x": Infinity}', "not_finite"),
        (b'{"id": 1, "x": -Infinity}', "not_finite"),
        (b'{"id": 1, "x": 1e400}', "not_finite"),
        (b'{"id": 1, "x": 1, "unused": NaN}', "not_finite"),
        (b'{"id": 1, "x": 1, "s": "\\ud800"}', "malformed_json"),
        (b'{"id": 1, "x": 1, "c": {"deep": [1]}}', "wrong_type"),
        (b"[" * 5000 + b"]" * 5000, "too_deep"),
        (b'{"id": 1, "x": 1, "c": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too_deep"),
        (b'{"id": 1, "x": 1, "label": null}', "null_label"),
    ],
)
def test_bad_records_become_dead_letters_with_their_kind(raw, kind):
    events, labels, dead = one(raw)
    assert [d.kind for d in dead] == [kind]
    assert dead[0].raw == raw and dead[0].source == "t/0@0" and dead[0].role == "events"
    assert dead[0].reason  # readable


def test_non_finite_reasons_name_the_field():
    _, _, dead = one(b'{"id": 1, "x": NaN}')
    assert dead[0].reason == "feature 'x': expected a finite number, got nan"
    _, _, dead = one(b'{"id": 1, "x": 1, "unused": [1, Infinity]}')
    assert "'unused'" in dead[0].reason


def test_nesting_within_the_limit_in_an_unknown_field_is_ignored():
    events, _, dead = one(b'{"id": 1, "x": 1, "deep": ' + b"[" * 500 + b"]" * 500 + b"}")
    assert dead == [] and [e.id for e in events] == ["1"]


def test_a_null_label_is_a_dead_letter_but_its_event_is_still_predicted():
    events, labels, dead = one(b'{"id": 1, "x": 1, "label": null}')
    assert [e.id for e in events] == ["1"] and labels == [] and dead[0].kind == "null_label"


def test_valid_event_with_inline_label_unknown_fields_and_missing_optional_features():
    events, labels, dead = one(b'{"id": "a", "ts": 5, "x": 2, "zzz": [1], "label": 0}')
    assert dead == []
    assert events[0].id == "a" and events[0].ts_ms == 5 and events[0].source == "t/0@0"
    assert events[0].fields == {"x": 2.0, "y": None, "c": None}
    assert (labels[0].id, labels[0].y, labels[0].ts_ms) == ("a", 0, 5)


def test_source_timestamp_when_the_record_has_none_and_categories_become_strings():
    events, _, _ = one(b'{"id": 7, "x": 1.5, "c": 3}')
    assert events[0].ts_ms == 99 and events[0].fields["c"] == "3" and events[0].id == "7"


def test_label_records():
    _, labels, dead = one(b'{"id": 3, "label": "spam"}', role="labels")
    assert dead == [] and labels[0].y == "spam"
    _, labels, dead = one(b'{"id": 3}', role="labels")
    assert labels == [] and dead[0].kind == "null_label" and dead[0].role == "labels"


def test_csv_rows_parse_numbers_from_text_but_reject_garbage():
    csv = Decoder(numeric=("x",), required=("x",), numbers_from_text=True)
    events, labels, dead = one({"id": "1", "x": "2.5", "label": "1"}, decoder=csv)
    assert events[0].fields == {"x": 2.5} and labels[0].y == 1
    _, _, dead = one({"id": "1", "x": "abc"}, decoder=csv)
    assert dead[0].kind == "wrong_type"
    _, _, dead = one({"id": "1", "x": "nan"}, decoder=csv)
    assert dead[0].kind == "not_finite"


def test_regression_labels_must_be_finite_numbers():
    reg = Decoder(numeric=("x",), task="regression")
    _, labels, dead = one(b'{"id": 1, "x": 1, "label": 2.5}', decoder=reg)
    assert labels[0].y == 2.5 and dead == []
    _, labels, dead = one(b'{"id": 1, "x": 1, "label": "high"}', decoder=reg)
    assert labels == [] and dead[0].kind == "wrong_type"


def test_mapping_values_from_synthetic_sources():
    events, labels, dead = one({"id": 1, "x": 1.0, "c": "a", "label": 1})
    assert events[0].fields == {"x": 1.0, "y": None, "c": "a"} and labels[0].y == 1
