"""``riverbed replay``: a slice of the topics, by offset or by timestamp, into separate
outputs; ``--frozen`` and ``--warm-start``; by time right on Tansu too, whose offsets-for-times
answer is 0 whatever the time (the source filters by record timestamp after seeking)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from flows.config import parse
from flows.replay import Bound, run_replay
from flows.runner import run_job
from online_models import checkpoints
from tests.integration import streams
from tests.integration.procs import lines, produce, riverbed, topics, write_config

N, DELAY = 4_000, 20
T0 = streams.T0


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def stream(broker, tmp_path_factory) -> dict[str, Any]:
    """N events (event i at T0 + i ms) with labels DELAY ms later, and a job config."""
    ev, lab = topics(broker.address, "events", "labels")
    produce(broker.address, streams.records(ev, lab, N, seed=4, label_delay=DELAY))
    home = tmp_path_factory.mktemp("replay")
    raw = streams.job(broker.address, ev, lab, str(home / "live"))
    return {"raw": raw, "config": write_config(home / "job.toml", raw), "home": home}


def ids(out: Path) -> list[int]:
    return [int(p["id"]) for p in lines(out / "predictions.jsonl")]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("1000", "3000"),
        (iso(T0 + 1000), str(T0 + 3000)),
        ("offset:1000", f"time:{iso(T0 + 3000)}"),
    ],
    ids=["offsets", "timestamps", "mixed"],
)
def test_a_slice_is_replayed_into_its_own_outputs(stream, tmp_path, start, end):
    out = tmp_path / "out"
    done = riverbed(
        "replay", str(stream["config"]), "--from", start, "--to", end, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert ids(out) == list(range(1000, 3000))
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["predictions"] == 2000
    # Labels follow in event time: those of events 1000 .. 2979 fall inside the slice.
    assert summary["labels_joined"] == 2000 - DELAY
    plan = orjson.loads((out / "replay.json").read_bytes())
    (events_part,) = [v for k, v in plan["partitions"].items() if k.startswith("events")]
    assert events_part["start"] == 1000 and (events_part["end"] == 3000 or events_part["until_ms"])
    assert not (stream["home"] / "live").exists()  # the live job's outputs are untouched
    assert f"written to {out}/" in done.stdout


def test_from_earliest_to_the_end_is_the_whole_stream(stream, tmp_path):
    summary = run_replay(parse(stream["raw"]), Bound("earliest"), out_dir=tmp_path)
    assert ids(tmp_path) == list(range(N)) and summary["labels_joined"] == N


@pytest.fixture(scope="module")
def trained(stream, tmp_path_factory) -> Path:
    """Model checkpoints written at the end of a live run over the whole stream."""
    ck = tmp_path_factory.mktemp("checkpoints")
    out = tmp_path_factory.mktemp("trained")
    raw = dict(stream["raw"], model_checkpoints={"directory": str(ck)})
    raw["sinks"] = {"predictions": {"kind": "jsonl", "path": str(out / "p.jsonl")}}
    run_job(parse(raw))
    return ck


def test_frozen_with_a_warm_start_predicts_without_learning(stream, trained, tmp_path):
    (lr,) = [r for r in checkpoints.list_checkpoints(trained) if r["model"] == "lr"]
    before = sorted(p.name for p in trained.iterdir())
    done = riverbed(
        "replay", str(stream["config"]), "--from", "2000", "--frozen",
        "--warm-start", lr["path"], "--out", str(tmp_path / "frozen"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    frozen = orjson.loads((tmp_path / "frozen" / "summary.json").read_bytes())
    assert frozen["predictions"] == N - 2000
    models = frozen["models"]
    assert models["lr"]["events_learned"] == models["base"]["events_learned"] == 0  # frozen
    # Scored on the slice alone; the checkpoint's history is reported apart.
    assert models["lr"]["metrics"]["n"] == N - 2000
    assert frozen["warm_start_history"] == {
        "lr": {"metric": "accuracy", "value": lr["metrics"]["value"],
               "events_learned": lr["events_learned"]},
    }  # fmt: skip
    assert models["lr"]["value"] > 0.8  # a trained model, not a fresh one
    assert frozen["drift_alerts"] == 0
    assert sorted(p.name for p in trained.iterdir()) == before  # a replay writes no checkpoint
    # The policy serves as it had learned to: its state is the checkpoint's (frozen: no
    # reward learned in the slice), not a fresh policy's.
    saved = checkpoints.load_serving(lr["path"]).summary()
    for arm, stats in frozen["policy"].items():
        assert stats["observations"] == saved[arm]["observations"] > 0
        assert stats["mean_reward"] == saved[arm]["mean_reward"]

    learning = run_replay(
        parse(stream["raw"]),
        Bound("offset", 2000),
        out_dir=tmp_path / "l",
        warm_start=[str(trained)],
    )
    assert learning["models"]["lr"]["events_learned"] == N - 2000
    assert learning["warm_start_history"]["lr"]["events_learned"] == lr["events_learned"]


def test_replay_out_must_be_empty_unless_force(stream, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "predictions.jsonl").write_text('{"id": "an earlier replay"}\n')
    done = riverbed("replay", str(stream["config"]), "--from", "3900", "--out", str(out))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"--out {out}: the directory is not empty" in done.stderr
    assert lines(out / "predictions.jsonl") == [{"id": "an earlier replay"}]
    forced = riverbed(
        "replay", str(stream["config"]), "--from", "3900", "--out", str(out), "--force"
    )
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert ids(out) == list(range(3900, N))


def test_bad_replay_options_are_reported_with_exit_code_2(stream, trained, tmp_path):
    out = riverbed("replay", str(stream["config"]), "--from", "last tuesday")
    assert out.returncode == 2
    assert "--from: expected earliest, an offset or a timestamp" in out.stderr
    (ck,) = [r for r in checkpoints.list_checkpoints(trained) if r["model"] == "lr"]
    other = dict(stream["raw"], models=[{"name": "gbm", "estimator": "fast_logistic_regression"}])
    cfg = write_config(tmp_path / "other.toml", other)
    out = riverbed("replay", str(cfg), "--from", "earliest", "--warm-start", ck["path"])
    assert out.returncode == 2
    assert "a checkpoint of model 'lr', but the job's models are gbm" in out.stderr


# --- on every broker, Tansu too ---------------------------------------------------------------


@pytest.mark.smoke
def test_replay_by_timestamp_is_right_on_every_broker(broker, tmp_path):
    n = 600
    ev, lab = topics(broker.address, "events", "labels")
    # One record per request on Tansu: its high watermark is wrong after a multi-record batch.
    tansu = broker.kind == "tansu"
    produce(broker.address, streams.records(ev, lab, n, label_delay=DELAY), one_per_request=tansu)
    cfg = parse(streams.job(broker.address, ev, lab, str(tmp_path / "unused")))
    start, end = Bound("time", T0 + 200), Bound("time", T0 + 450)
    summary = run_replay(cfg, start, end, out_dir=tmp_path)
    assert ids(tmp_path) == list(range(200, 450))
    assert summary["labels_joined"] == 250 - DELAY
    plan = orjson.loads((tmp_path / "replay.json").read_bytes())
    # Offsets-for-times: never later than the first record at or after the time (event 200,
    # label 180), or records would be lost. Tansu answers 0 for both; Apache Kafka answered
    # 0 once for the labels (in a full run on a loaded machine); the source, having read from
    # there, filters by record timestamp: the predictions above are exact either way.
    starts = {k.split("/")[0]: p["start"] for k, p in plan["partitions"].items()}
    assert starts[ev] <= 200 and starts[lab] <= 200 - DELAY
    if tansu:
        assert starts == {ev: 0, lab: 0}
