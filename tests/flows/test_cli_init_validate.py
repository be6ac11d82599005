"""``riverbed init DATA`` writes a starter job that ``riverbed validate`` accepts and ``riverbed
run`` runs; ``validate`` finds what would stop a start, one line per problem (real commands in
child processes, real files)."""

from __future__ import annotations

import gzip
import itertools
import subprocess
from pathlib import Path

import orjson
import pytest
import tomllib
from river import datasets

from flows import synthetic
from tests.integration.procs import RIVERBED, ROOT, child_env


def riverbed(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``riverbed ARGS`` in a child process, in ``cwd`` (the checkout's root by default)."""
    return subprocess.run(
        [*RIVERBED, *args], capture_output=True, text=True, timeout=600, cwd=cwd or ROOT,
        env=child_env(),
    )  # fmt: skip


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
ROWS = 1500


def _head_csv(source: Path, target: Path, rows: int = ROWS) -> Path:
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt") as f:  # type: ignore[operator]
        target.write_text("".join(itertools.islice(f, rows + 1)))
    return target


def _csv_inputs() -> list[tuple[str, Path, dict[str, object]]]:
    """(name, file, what init must guess): the shared Elec2 and Weather when present, and
    River's bundled Phishing always."""
    found = [("phishing", Path(datasets.Phishing().path), {"label_field": "is_phishing"})]
    for name, label in (("elec", "class"), ("weather", "target")):
        if (SHARED / f"{name}.csv").exists():
            found.append((name, SHARED / f"{name}.csv", {"label_field": label}))
    return found


def _init_validate_run(tmp_path: Path, data: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    job = tmp_path / "job.toml"
    made = riverbed("init", str(data), "--out", str(job), cwd=tmp_path)
    assert made.returncode == 0 and made.stderr == "", made.stderr
    checked = riverbed("validate", str(job), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{job}: valid")
    ran = riverbed("run", str(job), "--summary", str(tmp_path / "summary.json"), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    return tomllib.loads(job.read_text()), summary


@pytest.mark.parametrize(
    ("name", "source", "expected"), _csv_inputs(), ids=lambda v: getattr(v, "name", None)
)
def test_init_starts_a_csv_job_that_validates_and_runs(tmp_path, name, source, expected):
    data = _head_csv(source, tmp_path / f"{name}.csv")
    cfg, summary = _init_validate_run(tmp_path, data)
    header, *rows = data.read_text().splitlines()
    header = header.split(",")
    label = expected["label_field"]
    assert cfg["schema"] == {"id_field": "", "time_field": "", "label_field": label}
    assert cfg["job"]["task"] == "classification"
    assert cfg["features"]["numeric"] + cfg["features"]["categorical"] == [
        h for h in header if h != label
    ]
    assert summary["events_in"] == len(rows) and summary["events_bad"] == 0
    assert summary["predictions"] == len(rows)
    assert all(m["events_learned"] == len(rows) for m in summary["models"].values())
    assert (tmp_path / "runs" / name / "predictions.jsonl").exists()


def test_init_types_json_lines_fields_and_guesses_id_and_time(tmp_path):
    data = tmp_path / "agrawal.jsonl"
    rows = synthetic.events(ROWS, ROWS, 1, 7)
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    cfg, summary = _init_validate_run(tmp_path, data)
    assert cfg["source"]["format"] == "jsonl"
    assert cfg["schema"] == {"id_field": "id", "time_field": "ts", "label_field": "label"}
    assert cfg["features"] == {
        "numeric": ["salary", "commission", "age", "hvalue", "hyears", "loan"],
        "categorical": ["elevel", "car", "zipcode"],  # strings in the JSON
        "scaler": "standard",
    }
    assert summary["events_in"] == ROWS and summary["events_bad"] == 0


def test_init_finds_a_regression_label_and_leaves_free_text_out(tmp_path):
    data = tmp_path / "prices.csv"
    lines = ["sku,note,size,price"] + [f"s{i},note {i},{i % 5},{i * 1.37:.2f}" for i in range(300)]
    data.write_text("\n".join(lines) + "\n")
    out = riverbed("init", str(data), "--label", "price")
    assert out.returncode == 0, out.stderr
    cfg = tomllib.loads(out.stdout)
    assert cfg["job"]["task"] == "regression"
    assert cfg["features"]["numeric"] == ["size"]
    assert [m["estimator"] for m in cfg["models"]] == [
        "linear_regression",
        "hoeffding_tree_regressor",
    ]
    assert "# Left out: sku (every sampled value is different" in out.stdout
    assert "# Left out: note (" in out.stdout
    again = riverbed("init", str(data), "--out", str(tmp_path / "job.toml"))
    assert again.returncode == 0
    refused = riverbed("init", str(data), "--out", str(tmp_path / "job.toml"))
    assert refused.returncode == 2
    assert (
        refused.stderr
        == f"riverbed: init --out: {tmp_path / 'job.toml'} exists; add --force to overwrite it\n"
    )


def test_validate_reports_every_problem_before_a_start(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("x,label\n1,0\n2,1\n")
    store = tmp_path / "store"
    store.write_text("")
    (tmp_path / "sinkdir").mkdir()
    job = tmp_path / "job.toml"
    job.write_text(
        f"""
[source]
kind = "file"
path = "{data}"
format = "csv"
[schema]
id_field = "id"
[features]
numeric = ["x", "y"]
[[models]]
name = "m"
estimator = "logistic_regression"
params = {{ no_such_param = 1 }}
[checkpoint]
directory = "{store}"
[sinks.predictions]
kind = "jsonl"
path = "{tmp_path / "sinkdir"}"
"""
    )
    out = riverbed("validate", str(job))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines == sorted(lines) and len(lines) == 5, out.stderr
    assert all(line.startswith(f"riverbed: {job}: ") for line in lines)
    body = [line.removeprefix(f"riverbed: {job}: ") for line in lines]
    assert body[0] == f"checkpoint.directory: {store}: is a file, expected a directory"
    assert body[1] == f"features.numeric: 'y' not in the header of {data}"
    assert body[2].startswith("model 'logistic_regression': bad parameters {'no_such_param': 1}")
    assert body[3] == f"schema.id_field: 'id' not in the header of {data}"
    assert (
        body[4] == f"sinks.predictions.path: {tmp_path / 'sinkdir'} is a directory, expected a file"
    )


def test_validate_a_missing_input_file(tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\nkind = "file"\npath = "{tmp_path}/none.jsonl"\n[features]\nnumeric = ["x"]\n'
        '[[models]]\nname = "m"\nestimator = "logistic_regression"\n'
    )
    out = riverbed("validate", str(job))
    assert out.returncode == 2
    assert out.stderr == f"riverbed: {job}: source.path: {tmp_path}/none.jsonl does not exist\n"
