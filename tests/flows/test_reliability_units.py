"""Unit checks of the reliability pieces that need no broker: the output guard, replay
bounds, the stop flag and the label delay at a stop, and the new configuration keys."""

from __future__ import annotations

import orjson
import pytest

from flows import shutdown
from flows.config import parse
from flows.errors import ConfigError, OptionsError, SinkError
from flows.outputs import KEEP_BYTES, SINK_NAMES, OutputGuard, SizeLimit
from flows.replay import Bound, parse_bound
from flows.sinks import dumps
from operators.records import Alert, Batch, DeadLetter, Events, Labels

MODELS = [{"name": "lr", "estimator": "fast_logistic_regression"}]


def prediction(i: int, size: int = 10) -> dict:
    return {"id": str(i) * size, "source": f"ev/0@{i}", "prediction": 1}


def written(out: Batch, sink: str) -> list[dict]:
    return [orjson.loads(v) for v in out.sinks[sink].values]


@pytest.mark.parametrize("policy", ["dead_letter", "skip"])
def test_the_guard_keeps_oversize_records_from_the_sink(policy):
    guard = OutputGuard({"predictions": SizeLimit(300, policy, "preds")}, SINK_NAMES)
    small, big = prediction(1), prediction(2, size=400)
    (out,) = guard.update(Batch(predictions=(small, big)))
    assert written(out, "predictions") == [small]
    assert [d.kind for d in out.dead_letters] == ["output_too_large"]  # counted either way
    letters = written(out, "dead_letters")
    if policy == "skip":
        assert letters == []
    else:
        (letter,) = letters
        assert letter["id"] == "predictions:ev/0@2" and letter["role"] == "output"
        assert (
            len(letter["raw"]) <= KEEP_BYTES and "over the limit of 300 bytes" in letter["reason"]
        )


def test_the_guard_fails_loudly_when_asked_to():
    guard = OutputGuard({"predictions": SizeLimit(300, "fail", "preds")}, SINK_NAMES)
    with pytest.raises(SinkError, match="oversize = 'fail'"):
        guard.update(Batch(predictions=(prediction(3, size=400),)))


def test_a_dead_letter_too_large_for_its_kafka_sink_keeps_what_fits_of_its_raw_bytes():
    guard = OutputGuard({"dead_letters": SizeLimit(2048, "dead_letter", "dlq")}, SINK_NAMES)
    raw = "é" * 5000
    letter = DeadLetter("malformed_json", "r", "ev/0@9", raw.encode())
    (out,) = guard.update(Batch(dead_letters=(letter,)))
    (fitted,) = written(out, "dead_letters")
    assert fitted["raw_truncated"] and fitted["raw_bytes"] == 10_000
    assert fitted["raw"] == raw[: len(fitted["raw"])] and fitted["raw"]
    assert len(dumps(fitted)) + len(b"ev/0@9") + 128 <= 2048


def test_every_alert_is_written_with_its_id_and_only_configured_sinks_get_records():
    alerts = (
        Alert("drift", "adwin", "lr", 7, details={"window": {"end_position": 7}}),
        Alert("drift", "ks", "age", 5, model=False),
    )
    (out,) = OutputGuard({}, ["alerts"]).update(Batch(alerts=alerts))
    records = written(out, "alerts")
    assert [r["id"] for r in records] == ["drift/adwin/lr/7", "drift/ks/age/5"]
    assert out.sinks["alerts"].keys == (b"drift/adwin/lr/7", b"drift/ks/age/5")
    assert (records[0]["model"], records[1]["feature"]) == ("lr", "age")
    assert list(out.sinks) == ["alerts"]


@pytest.mark.parametrize(
    ("text", "option", "bound"),
    [
        ("earliest", "--from", Bound("earliest")),
        ("end", "--to", Bound("end")),
        ("999999999999", "--from", Bound("offset", 999_999_999_999)),
        ("1000000000000", "--from", Bound("time", 1_000_000_000_000)),
        ("offset:1767225600000", "--to", Bound("offset", 1_767_225_600_000)),
        ("time:5", "--from", Bound("time", 5)),
        ("2026-01-01T00:00:00Z", "--to", Bound("time", 1_767_225_600_000)),
        ("2026-01-01T01:00:00+01:00", "--to", Bound("time", 1_767_225_600_000)),
        ("2026-01-01", "--from", Bound("time", 1_767_225_600_000)),
    ],
)
def test_replay_bounds(text, option, bound):
    assert parse_bound(text, option) == bound


@pytest.mark.parametrize(
    ("text", "option"), [("end", "--from"), ("earliest", "--to"), ("-5", "--to")]
)
def test_replay_bounds_that_make_no_sense(text, option):
    with pytest.raises(OptionsError, match=option):
        parse_bound(text, option)


def test_label_delay_keeps_its_labels_at_a_stop_and_releases_them_at_the_end():
    d = shutdown.StopAwareLabelDelay(5)
    d.update(Batch(events=Events.of([{}] * 3), labels=Labels.of(["0", "1", "2"], [1, 1, 1])))
    shutdown.request("SIGTERM")
    try:
        assert d.on_eof() == [] and len(d._held) == 3
    finally:
        shutdown.reset()
    (rest,) = d.on_eof()
    assert list(rest.labels.ids) == ["0", "1", "2"]


def test_new_configuration_keys_are_validated():
    raw = {
        "source": {"kind": "synthetic", "allowed_lateness_ms": -1},
        "models": MODELS,
        "sinks": {
            "predictions": {
                "kind": "kafka", "brokers": "b:9092", "topic": "t", "retries": -1,
                "delivery_timeout_s": 0, "max_message_bytes": 10, "oversize": "drop",
            }
        },
    }  # fmt: skip
    with pytest.raises(ConfigError) as info:
        parse(raw)
    msg = str(info.value)
    for key in ("source.allowed_lateness_ms", "sinks.predictions.retries",
                "sinks.predictions.delivery_timeout_s", "sinks.predictions.max_message_bytes",
                "sinks.predictions.oversize: expected one of dead_letter, skip, fail"):  # fmt: skip
        assert key in msg, key
    ok = parse({"source": {"kind": "synthetic", "allowed_lateness_ms": 0}, "models": MODELS})
    assert ok.source.allowed_lateness_ms == 0 and ok.sinks["predictions"].retries == 3


def test_dumps_of_a_fitted_dead_letter_is_valid_json():
    guard = OutputGuard({"dead_letters": SizeLimit(1500, "dead_letter", "dlq")}, SINK_NAMES)
    letter = DeadLetter("malformed_json", "r", "x", ('"\\' * 3000).encode())
    (out,) = guard.update(Batch(dead_letters=(letter,)))
    assert written(out, "dead_letters")[0]["raw_truncated"] is True
