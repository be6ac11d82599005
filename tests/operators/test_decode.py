from __future__ import annotations

import pickle

import numpy as np
import orjson
import pytest

from operators.decode import Decoder, SchemaSettings
from operators.records import RawBatch


def one(value, role="events", decoder=None):
    """One record decoded by a fresh decoder (a decoder learns the type of ids)."""
    if decoder is None:
        decoder = Decoder(numeric=("x", "y"), categorical=("c",), required=("x",))
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
        (b'{"id": 1, "ts": 1e20, "x": 1}', "future_event"),
        (b'{"id": 1, "ts": -1e20, "x": 1}', "wrong_type"),
        (b'{"id": 1, "ts": 9223372036854775808, "x": 1}', "future_event"),
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
    assert dead == [] and list(events.ids) == ["1"]


def test_a_null_label_is_a_dead_letter_but_its_event_is_still_predicted():
    events, labels, dead = one(b'{"id": 1, "x": 1, "label": null}')
    assert list(events.ids) == ["1"] and len(labels) == 0 and dead[0].kind == "null_label"


def test_valid_event_with_inline_label_unknown_fields_and_missing_optional_features():
    events, labels, dead = one(b'{"id": "a", "ts": 5, "x": 2, "zzz": [1], "label": 0}')
    assert dead == []
    assert events.ids[0] == "a" and events.ts_ms[0] == 5 and events.sources[0] == "t/0@0"
    assert events.fields(0) == {"x": 2.0, "y": None, "c": None}
    assert (labels.ids[0], labels.ys[0], labels.ts_ms[0]) == ("a", 0, 5)


def test_source_timestamp_when_the_record_has_none_and_categories_become_strings():
    events, _, _ = one(b'{"id": 7, "x": 1.5, "c": 3}')
    assert events.ts_ms[0] == 99 and events.fields(0)["c"] == "3" and events.ids[0] == "7"


def test_label_records():
    _, labels, dead = one(b'{"id": 3, "label": "spam"}', role="labels")
    assert dead == [] and labels.ys[0] == "spam"
    _, labels, dead = one(b'{"id": 3}', role="labels")
    assert len(labels) == 0 and dead[0].kind == "null_label" and dead[0].role == "labels"


def test_csv_rows_parse_numbers_from_text_but_reject_garbage():
    csv = Decoder(numeric=("x",), required=("x",), numbers_from_text=True)
    events, labels, dead = one({"id": "1", "x": "2.5", "label": "1"}, decoder=csv)
    assert events.fields(0) == {"x": 2.5} and labels.ys[0] == 1
    _, _, dead = one({"id": "1", "x": "abc"}, decoder=csv)
    assert dead[0].kind == "wrong_type"
    _, _, dead = one({"id": "1", "x": "nan"}, decoder=csv)
    assert dead[0].kind == "not_finite"


def test_regression_labels_must_be_finite_numbers():
    reg = Decoder(numeric=("x",), task="regression")
    _, labels, dead = one(b'{"id": 1, "x": 1, "label": 2.5}', decoder=reg)
    assert labels.ys[0] == 2.5 and dead == []
    _, labels, dead = one(b'{"id": 1, "x": 1, "label": "high"}', decoder=reg)
    assert len(labels) == 0 and dead[0].kind == "wrong_type"


def test_ids_of_one_type_per_stream_the_first_decides_or_the_schema_says():
    records = [b'{"id": 1, "x": 1}', b'{"id": "1", "x": 1}', b'{"id": "a", "x": 1}',
               b'{"id": 2, "x": 1}']  # fmt: skip
    raw = RawBatch(0.0, ["events"] * 4, ["t/0"] * 4, range(4), [0] * 4, records)
    events, _, dead = Decoder(numeric=("x",)).decode(raw)
    assert list(events.ids) == ["1", "2"] and [d.source for d in dead] == ["t/0@1", "t/0@2"]
    assert dead[0].kind == "wrong_type"
    assert dead[0].reason == (
        "id field 'id': '1' is a string, but the ids of this stream are integers (schema.id_type)"
    )
    strings = Decoder(numeric=("x",), schema=SchemaSettings(id_type="string"))
    events, _, dead = strings.decode(raw)
    assert list(events.ids) == ["1", "a"] and [d.source for d in dead] == ["t/0@0", "t/0@3"]
    # A label's id too; and the type learned is kept in the decoder's state (snapshots).
    again = pickle.loads(pickle.dumps(Decoder(numeric=("x",))))
    again.decode(RawBatch(0.0, ["events"], ["t/0"], [0], [0], [b'{"id": 1, "x": 1}']))
    again = pickle.loads(pickle.dumps(again))
    _, labels, dead = again.decode(
        RawBatch(0.0, ["labels"] * 2, ["l/0"] * 2, [0, 1], [0, 0],
                 [b'{"id": "1", "label": 1}', b'{"id": 1, "label": 1}'])
    )  # fmt: skip
    assert list(labels.ids) == ["1"] and [(d.kind, d.role) for d in dead] == [
        ("wrong_type", "labels")
    ]


def test_mapping_values_from_synthetic_sources():
    events, labels, dead = one({"id": 1, "x": 1.0, "c": "a", "label": 1})
    assert events.fields(0) == {"x": 1.0, "y": None, "c": "a"} and labels.ys[0] == 1


class SlowOnly(Decoder):
    """The step-by-step validation alone: the oracle of the one-call fast path."""

    def _fast(self, raw, rows):
        return list(range(len(raw)))


def random_records(rng, n):
    good = [
        lambda i: {"id": i, "ts": i, "x": float(rng.normal()), "c": f"k{rng.integers(5)}"},
        lambda i: {"id": i, "x": int(rng.integers(9)), "y": None, "label": bool(i % 2)},
        lambda i: {"id": i, "x": 1.5, "c": 7, "w": "s", "label": 2.0},
        lambda i: {"id": i, "x": 0.5, "unused": {"a": [1, 2]}, "label": "cat"},
    ]
    bad = [b'{"id": 1, "x": ', b'{"x": 1}', b'{"id": "", "x": 1}', b'{"id": 5, "x": null}',
           b'{"id": 6, "x": true}', b'{"id": 7, "x": 1, "label": null}', b'[1]',
           b'{"id": 8, "x": 1, "label": 1.5}', b'{"id": 9, "x": NaN}',
           b'{"id": "10", "x": 1}', b'{"id": 11, "ts": 1e20, "x": 1}']  # fmt: skip
    out = []
    for i in range(n):
        if rng.random() < 0.2:
            out.append(("events", bad[int(rng.integers(len(bad)))]))
        elif rng.random() < 0.2:
            out.append(("labels", orjson.dumps({"id": int(rng.integers(n)), "label": 1})))
        else:
            out.append(("events", orjson.dumps(good[int(rng.integers(len(good)))](i))))
    return out


def test_one_call_decoding_equals_the_step_by_step_validation_record_for_record():
    rng = np.random.default_rng(0)
    records = random_records(rng, 400)
    raw = RawBatch(0.0, [r for r, _ in records], ["t/0"] * 400, list(range(400)),
                   list(range(400)), [v for _, v in records])  # fmt: skip
    kw = {"numeric": ("x", "y"), "categorical": ("c",), "required": ("x",), "meta": ("w",)}
    fast, slow = Decoder(**kw).decode(raw), SlowOnly(**kw).decode(raw)
    (fe, fl, fd), (se, sl, sd) = fast, slow
    assert fe.ids == se.ids and fe.sources == se.sources and fe.meta == se.meta
    assert np.array_equal(fe.numeric, se.numeric, equal_nan=True)
    assert fe.categorical.tolist() == se.categorical.tolist()
    assert fe.ts_ms.tolist() == se.ts_ms.tolist() and fe.seq.tolist() == se.seq.tolist()
    assert (fl.ids, fl.ys, fl.seq.tolist()) == (sl.ids, sl.ys, sl.seq.tolist())
    assert [(d.kind, d.source) for d in fd] == [(d.kind, d.source) for d in sd]
    assert len(fe) > 200 and len(fd) > 40  # both paths were exercised
    # The merged order: every inline label right after its event.
    assert all(s % 2 == 0 for s in fe.seq.tolist())


def test_the_decoder_pickles_without_its_msgspec_types():
    d = Decoder(numeric=("x",), categorical=("c",))
    clone = pickle.loads(pickle.dumps(d))
    raw = RawBatch(0.0, ["events"], ["t/0"], [0], [1], [b'{"id": 1, "x": 2, "c": "a"}'])
    assert clone.decode(raw)[0].ids == d.decode(raw)[0].ids == ["1"]
