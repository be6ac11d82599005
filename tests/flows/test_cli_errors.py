"""What a user reads when something is wrong: the real ``riverbed`` command in a child process
prints exactly one line per error and exits with the error's code; the traceback (and Bytewax's
panic report) only with ``--debug``."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import pytest

from tests.integration.procs import riverbed

JOB = """\
[job]
name = "t"
{job}
[source]
kind = "file"
path = "{data}"
[features]
numeric = ["x"]
[[models]]
name = "lr"
estimator = "{estimator}"
{params}
[sinks.predictions]
kind = "jsonl"
path = "{out}/predictions.jsonl"
{extra}
"""


def _job(tmp_path: Path, *, data: Path | None = None, job: str = "", extra: str = "",
         estimator: str = "logistic_regression", params: str = "") -> Path:  # fmt: skip
    if data is None:
        data = _data(tmp_path, [{"id": i, "ts": i, "x": i % 7, "label": i % 2} for i in range(60)])
    cfg = tmp_path / "job.toml"
    cfg.write_text(
        JOB.format(
            job=job,
            data=data,
            estimator=estimator,
            params=params,
            out=tmp_path / "out",
            extra=extra,
        )  # fmt: skip
    )
    return cfg


def _data(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _one_line(out, code: int) -> str:  # type: ignore[no-untyped-def]
    assert out.returncode == code, out.stderr[-3000:]
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr[-3000:]
    assert lines[0].startswith("riverbed: ")
    return lines[0]


def test_version():
    out = riverbed("--version")
    assert out.returncode == 0 and out.stdout.strip() == "riverbed 0.1.0"


def test_missing_input_file(tmp_path):
    cfg = _job(tmp_path, data=tmp_path / "nowhere.jsonl")
    line = _one_line(riverbed("run", str(cfg)), 1)
    missing = tmp_path / "nowhere.jsonl"
    assert line == f"riverbed: file source: cannot open {missing}: No such file or directory"


def test_missing_input_file_with_debug_shows_the_traceback_and_the_panic(tmp_path):
    cfg = _job(tmp_path, data=tmp_path / "nowhere.jsonl")
    out = riverbed("run", str(cfg), "--debug")
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert "panicked at" in out.stderr
    assert out.stderr.splitlines()[-1].startswith("riverbed: file source: cannot open")


def test_binary_config_file(tmp_path):
    cfg = tmp_path / "job.toml"
    cfg.write_bytes(b"\xff\xfe[job]\x00")
    line = _one_line(riverbed("run", str(cfg)), 2)
    assert line == f"riverbed: {cfg}: not a TOML file: byte 0xff at offset 0 is not UTF-8 text"


def test_bad_toml(tmp_path):
    cfg = tmp_path / "job.toml"
    cfg.write_text("[job\nname = 1\n")
    line = _one_line(riverbed("run", str(cfg)), 2)
    assert line.startswith(f"riverbed: {cfg}: not valid TOML: Expected ']'")
    assert line.endswith("(at line 1, column 5)")


def test_unknown_key_with_did_you_mean(tmp_path):
    cfg = _job(tmp_path, job='nmae = "x"')
    line = _one_line(riverbed("run", str(cfg)), 2)
    assert line == f"riverbed: {cfg}: job.nmae: unknown key; did you mean 'name'?"


def test_every_config_error_is_one_line(tmp_path):
    cfg = _job(tmp_path, job='nmae = "x"\nseed = -1')
    out = riverbed("run", str(cfg))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"riverbed: {cfg}: job.nmae: unknown key; did you mean 'name'?",
        f"riverbed: {cfg}: job.seed: expected an integer >= 0, got -1",
    ]


def test_checkpoint_directory_that_is_a_file(tmp_path):
    store = tmp_path / "store"
    store.write_text("not a directory")
    cfg = _job(tmp_path, extra=f'[checkpoint]\ndirectory = "{store}"')
    line = _one_line(riverbed("run", str(cfg)), 2)
    assert line == f"riverbed: checkpoint.directory {store}: is a file, expected a directory"


def test_metrics_port_out_of_range(tmp_path):
    cfg = _job(tmp_path, job="metrics_port = 70000")
    line = _one_line(riverbed("run", str(cfg)), 2)
    assert (
        line == f"riverbed: {cfg}: job.metrics_port: expected an integer in [0, 65535], got 70000"
    )


def test_metrics_port_in_use(tmp_path):
    with socket.socket() as holder:
        holder.bind(("", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cfg = _job(tmp_path, job=f"metrics_port = {port}")
        line = _one_line(riverbed("run", str(cfg)), 2)
        assert (
            line
            == f"riverbed: job.metrics_port: cannot serve on port {port}: Address already in use"
        )
        validated = riverbed("validate", str(cfg))
    assert validated.returncode == 2
    assert validated.stderr.splitlines() == [
        f"riverbed: {cfg}: job.metrics_port: cannot serve on port {port}: Address already in use"
    ]


@pytest.mark.parametrize(
    ("estimator", "label", "why"),
    [
        ("logistic_regression", "cat", "a string, but the labels before it are integers"),
        ("fast_logistic_regression", 2, "model 'lr' is binary: its labels are False/True or 0/1"),
    ],
)  # fmt: skip
def test_label_of_the_wrong_type_in_the_data(tmp_path, estimator, label, why):
    # Issue 14: a label the models cannot take is a dead letter, and the job goes on.
    rows = [{"id": i, "ts": i, "x": i % 7, "label": i % 2} for i in range(60)]
    rows[30]["label"] = label
    dead = tmp_path / "out" / "dead.jsonl"
    extra = f'[sinks.dead_letters]\nkind = "jsonl"\npath = "{dead}"'
    cfg = _job(tmp_path, data=_data(tmp_path, rows), estimator=estimator, extra=extra)
    out = riverbed("run", str(cfg))
    assert out.returncode == 0 and "riverbed:" not in out.stderr, out.stderr[-2000:]
    (letter,) = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert letter["kind"] == "bad_label" and why in letter["reason"]


def test_unexpected_exception_inside_a_step_names_the_step(tmp_path):
    # River's KNN with no neighbours raises a ValueError at every prediction after its first:
    # one record's error is a dead letter (issue 14), 100 in a row stop the job.
    params = "params = { n_neighbors = 0 }"
    data = _data(tmp_path, [{"id": i, "ts": i, "x": i % 7, "label": i % 2} for i in range(200)])
    cfg = _job(tmp_path, data=data, estimator="river.neighbors.KNNClassifier", params=params)
    expected = (
        "riverbed: step learn failed: ValueError: not enough values to unpack (expected 2, got 0)"
    )
    assert _one_line(riverbed("run", str(cfg)), 1) == expected
    out = riverbed("run", str(cfg), "--debug")
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert 'in step "t.pipeline' in out.stderr  # Bytewax's own error, in the chain
    assert out.stderr.splitlines()[-1] == expected


def test_a_bad_option_is_one_line(tmp_path):
    cfg = _job(tmp_path)
    line = _one_line(riverbed("replay", str(cfg), "--from", "yesterday"), 2)
    assert line.startswith("riverbed: --from: expected earliest, an offset or a timestamp")
