"""Issue 14, the cases that need no broker: each bad input among good ones, or each misuse of
a job's files, ends as the issue says (a dead letter naming why, or an error naming what)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from flows.config import parse
from flows.errors import CheckpointError, ConfigError, SinkError, SourceError
from flows.runner import run_job
from tests.flows.helpers import read_jsonl, write_jsonl

N = 400


def cause(exc: BaseException, kind: type[BaseException]) -> BaseException:
    """The ``kind`` error behind ``exc`` (Bytewax wraps what a sink raised in its own)."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, kind):
        seen = seen.__cause__ or seen.__context__
    assert seen is not None, f"no {kind.__name__} behind {exc!r}"
    return seen


def rows(n: int = N, start: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        x = ((i * 37) % 101) / 10.0 - 5.0
        out.append({"id": i, "ts": 1_767_225_600_000 + i, "x": x, "c": f"c{i % 3}",
                    "label": int(x + (i % 7) / 7.0 - 0.5 > 0)})  # fmt: skip
    return out


def job(tmp_path: Path, data: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "source": {"kind": "file", "path": str(write_jsonl(tmp_path / "stream.jsonl", data))},
        "features": {"numeric": ["x"], "categorical": ["c"]},
        "models": [{"name": "lr", "estimator": "fast_logistic_regression"}],
        "sinks": {
            "predictions": {"kind": "jsonl", "path": str(tmp_path / "out" / "predictions.jsonl")},
            "dead_letters": {"kind": "jsonl", "path": str(tmp_path / "out" / "dead.jsonl")},
        },
    }
    for key, value in over.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


# --- sinks -----------------------------------------------------------------------------------


def test_two_sinks_on_one_path_is_a_configuration_error(tmp_path):
    raw = job(tmp_path, rows(10))
    raw["sinks"]["dead_letters"]["path"] = raw["sinks"]["predictions"]["path"]
    raw["sinks"]["alerts"] = {"kind": "kafka", "brokers": "b:9092", "topic": "t"}
    raw["sinks"]["sample"] = {"kind": "kafka", "brokers": "b:9092", "topic": "t"}
    with pytest.raises(ConfigError) as e:
        parse(raw)
    message = str(e.value)
    assert "sinks.predictions and sinks.dead_letters: both write path" in message
    assert "sinks.alerts and sinks.sample: both write topic 't' on b:9092" in message


def test_a_sink_file_missing_or_shorter_than_the_snapshot_at_resume_stops_the_job(tmp_path):
    raw = job(tmp_path, rows(300), checkpoint={"directory": str(tmp_path / "recovery")})
    run_job(parse(raw))
    preds = tmp_path / "out" / "predictions.jsonl"
    size = preds.stat().st_size
    write_jsonl(tmp_path / "stream.jsonl", rows(600))  # more input: the job resumes
    preds.write_bytes(preds.read_bytes()[: size // 2])
    with pytest.raises(Exception) as e:
        run_job(parse(raw))
    assert f"holds {size:,} bytes, but it has only {size // 2:,}" in str(cause(e.value, SinkError))
    preds.unlink()
    with pytest.raises(Exception) as e:
        run_job(parse(raw))
    assert "predictions.jsonl' says it holds" not in str(e.value)
    assert "but it is missing" in str(cause(e.value, SinkError))
    assert not preds.exists()  # never recreated (padded with NUL bytes)


# --- the recovery store's fingerprint ---------------------------------------------------------


@pytest.mark.parametrize(
    "change, named",
    [
        ({"models": [{"name": "lr", "estimator": "logistic_regression"}]},
         "other models (models[0].estimator: 'fast_logistic_regression' there, "
         "'logistic_regression' here)"),
        ({"features": {"numeric": ["x", "y"]}},
         "other features (features.numeric: ['x'] there, ['x', 'y'] here)"),
        ({"source": {"kind": "kafka", "events_topic": "other"}}, "other input (source."),
        ({"schema": {"id_field": "key"}},
         "other schema (schema.id_field: 'id' there, 'key' here)"),
    ],
)  # fmt: skip
def test_a_recovery_store_written_by_another_configuration_is_refused(tmp_path, change, named):
    raw = job(tmp_path, rows(100), checkpoint={"directory": str(tmp_path / "recovery")})
    run_job(parse(raw))
    other = {**raw, **{k: v if k == "models" else {**raw.get(k, {}), **v}
                       for k, v in change.items()}}  # fmt: skip
    with pytest.raises(CheckpointError, match="checkpoint.directory") as e:
        run_job(parse(other))
    assert named in str(e.value) and "\n" not in str(e.value)
    # The same configuration resumes.
    assert run_job(parse(raw))["predictions"] == 100


def test_a_checkpoint_directory_that_is_a_file_is_a_configuration_error(tmp_path):
    (tmp_path / "recovery").write_text("not a directory")
    raw = job(tmp_path, rows(10), checkpoint={"directory": str(tmp_path / "recovery")})
    with pytest.raises(CheckpointError, match="is a file, expected a directory"):
        run_job(parse(raw))


def test_every_output_once_after_a_resume(tmp_path):
    """The sinks' own contract, unchanged by the checks above: resumed, a file holds every
    record once."""
    raw = job(tmp_path, rows(300), checkpoint={"directory": str(tmp_path / "recovery")})
    run_job(parse(raw))
    write_jsonl(tmp_path / "stream.jsonl", rows(600))
    run_job(parse(raw))
    ids = [p["id"] for p in read_jsonl(tmp_path / "out" / "predictions.jsonl")]
    assert ids == [str(i) for i in range(600)]
    assert not os.path.exists(tmp_path / "out" / "dead.jsonl")  # no dead letter, no file


# --- a job that cannot be right says so ------------------------------------------------------


def csv_job(tmp_path: Path, n: int, header: str = "x,c,label", **over: Any) -> dict[str, Any]:
    lines = [header] + [f"{r['x']},{r['c']},{r['label']}" for r in rows(n)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    raw = job(tmp_path, [], **over)
    raw["source"] = {"kind": "file", "path": str(path), "format": "csv"}
    return raw


def test_a_csv_job_without_ids_warns_that_every_record_is_a_dead_letter(tmp_path, capfd):
    summary = run_job(parse(csv_job(tmp_path, 1500)))  # no id column, id_field left "id"
    assert summary["events_bad"] == 1500 and summary["predictions"] == 0
    assert list(summary["warnings"]) == ["all_dead_letters"]
    err = capfd.readouterr().err
    assert err.count("riverbed: warning: the first") == 1  # once, not per batch
    assert "are all dead letters (missing_id: 1,000" in err and 'schema.id_field = ""' in err
    fixed = run_job(parse(csv_job(tmp_path, 1500, schema={"id_field": ""})))
    assert fixed["warnings"] == {} and fixed["predictions"] == 1500


def test_a_short_input_of_dead_letters_only_warns_at_its_end(tmp_path, capfd):
    summary = run_job(parse(csv_job(tmp_path, 40)))
    assert "all_dead_letters" in summary["warnings"] and "first 40 events" in capfd.readouterr().err


def test_a_job_whose_label_field_never_appears_warns(tmp_path, capfd):
    raw = csv_job(tmp_path, 1500, header="x,c,target", schema={"id_field": ""})
    summary = run_job(parse(raw))
    assert summary["labels_joined"] == 0 and list(summary["warnings"]) == ["no_labels"]
    assert "no label came with the first" in capfd.readouterr().err
    assert "(schema.label_field 'label')" in summary["warnings"]["no_labels"]


def test_max_dead_letter_ratio_stops_a_run_above_it(tmp_path):
    data = rows(3000)
    for r in data[::4]:
        del r["id"]  # a quarter of the events are missing_id dead letters
    raw = job(tmp_path, data, job={"max_dead_letter_ratio": 0.2})
    with pytest.raises(Exception) as e:
        run_job(parse(raw))
    message = str(cause(e.value, SourceError))
    assert message.startswith("job.max_dead_letter_ratio = 0.2: 250 of 1,000 events")
    assert "(25.0%; missing_id: 250)" in message
    raw["job"]["max_dead_letter_ratio"] = 0.3
    assert run_job(parse(raw))["events_bad"] == 750
