"""The ``riverbed`` command line: ``demo``, ``run CONFIG``, ``validate CONFIG``, ``init DATA``,
``replay CONFIG``, ``broker``, ``models list DIR``, ``report RUN_DIR``, ``--version``.

An error is one line on stderr, ``riverbed: <what, naming the step, setting or record>``, and
the exit code is the error's (:mod:`flows.errors`): 0 done (also after a graceful stop by
SIGTERM or SIGINT), 1 the job failed at run time (broker, topic, file, sink, a step), 2 the
configuration, an option or a checkpoint is invalid. Python tracebacks and Bytewax's panic
reports are shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence
from contextlib import nullcontext
from importlib.metadata import version

from flows.broker import EmbeddedBroker
from flows.config import load
from flows.errors import OptionsError
from flows.panics import quiet_panics
from operators.errors import RiverbedError

__all__ = ["main"]

_DEBUG = "on an error, show the Python traceback and Bytewax's panic report too"


def _parser() -> argparse.ArgumentParser:
    debug = argparse.ArgumentParser(add_help=False)  # accepted after any command too
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG)
    p = argparse.ArgumentParser(
        prog="riverbed",
        description="A continual-learning stream engine: Bytewax dataflows over Kafka that "
        "featurize, learn online with River, select models and watch for drift.",
        epilog="Exit codes: 0 done, 1 the job failed at run time, 2 the configuration, an "
        "option or a checkpoint is invalid. An error is one line on stderr.",
    )
    p.add_argument("--version", action="version", version=f"riverbed {version('riverbed')}")
    p.add_argument("--debug", action="store_true", help=_DEBUG)
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        parents=[debug],
        help="run the main job on an embedded broker with a drifting synthetic stream",
        description="Start an embedded Kafka-protocol broker, produce a drifting synthetic "
        "stream with late labels, run the main job until it has drained, print the run "
        "summary, and keep its outputs under RUNS_DIR/<run-id>/.",
    )
    demo.add_argument("--events", type=int, default=100_000, help="events to produce (100000)")
    demo.add_argument("--seed", type=int, default=42, help="seed of the stream and the job (42)")
    demo.add_argument("--runs-dir", default="runs", help="where run directories go (./runs)")

    run = sub.add_parser(
        "run",
        parents=[debug],
        help="run a job from a TOML configuration",
        description="Validate CONFIG (every error at once), run the job until its input ends "
        "or it is stopped, and write the run summary.",
    )
    run.add_argument("config", help="the job's TOML configuration (see docs/CONFIG.md)")
    run.add_argument("--summary", help="write the run summary JSON here")
    run.add_argument(
        "--report",
        metavar="DIR",
        help="write the run report page DIR/report.html (plots) and DIR/summary.json",
    )
    run.epilog = (
        "SIGTERM or SIGINT (Ctrl-C) stops the job gracefully: the current batch is finished, "
        "a final recovery snapshot is taken (with checkpoint.directory), the run summary is "
        "written, and the exit code is 0; a second signal stops it at once. Run the same "
        "command again to resume."
    )

    validate = sub.add_parser(
        "validate",
        parents=[debug],
        help="check a job before starting it",
        description="Check everything that can be checked before a start: the configuration "
        "(every error at once), the input file (exists, readable, has the configured fields), "
        "the sinks' paths (writable, distinct), the checkpoint directories, the metrics port "
        "(free), and the models (built, warm starts loaded). Exit code 0 when the job can "
        "start, 2 otherwise, with one line per problem.",
    )
    validate.add_argument("config", help="the job's TOML configuration")
    validate.add_argument(
        "--connect",
        action="store_true",
        help="also connect to the Kafka broker(s) and check that the topics exist",
    )

    init = sub.add_parser(
        "init",
        parents=[debug],
        help="write a starter job for a CSV or JSON Lines file",
        description="Read a sample of DATA's rows, type each field (numeric or categorical), "
        "guess the label, id and time fields, and write a job TOML with every key commented; "
        "it passes `riverbed validate` and runs with `riverbed run`.",
    )
    init.add_argument("data", help="a CSV file (with a header row) or a JSON Lines file")
    init.add_argument("--out", "-o", help="write the job here (default: standard output)")
    init.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    init.add_argument("--label", help="the label field (default: guessed)")
    init.add_argument(
        "--sample", type=int, default=1000, help="rows read to type the fields (1000)"
    )

    replay = sub.add_parser(
        "replay",
        parents=[debug],
        help="reprocess a slice of the Kafka topics into separate outputs",
        description="Run CONFIG's job over a slice of its Kafka topics (e.g. to backtest a "
        "challenger on last week's traffic), writing every file or Kafka sink as "
        "OUT/<sink>.jsonl, the run summary as OUT/summary.json and the slice as "
        "OUT/replay.json. No recovery store and no model checkpoints are written.",
        epilog="A bound is an offset (applies to every partition of the events topic; the "
        "labels topic follows in event time), or a timestamp, ISO-8601 (no zone: UTC) or "
        "epoch milliseconds (13 digits or more), applied to both topics by record timestamp. "
        "offset:N and time:T force the reading.",
    )
    replay.add_argument("config", help="the job's TOML configuration")
    replay.add_argument(
        "--from",
        dest="start",
        required=True,
        help="earliest, OFFSET or TIMESTAMP: where the slice begins (inclusive)",
    )
    replay.add_argument(
        "--to", dest="end", default="end", help="end, OFFSET or TIMESTAMP (exclusive; end)"
    )
    replay.add_argument(
        "--frozen",
        action="store_true",
        help="predict and score only: no model learns, policy and drift monitors stay as is",
    )
    replay.add_argument(
        "--warm-start",
        action="append",
        default=[],
        metavar="PATH",
        help="start from model checkpoints: a directory (each model's newest) or a "
        "checkpoint file NAME-vNNNN.pkl (that model); may be repeated",
    )
    replay.add_argument("--out", help="directory of the replay's outputs (./runs/replay-<time>/)")
    replay.add_argument(
        "--force", action="store_true", help="write into a non-empty --out directory"
    )
    replay.add_argument(
        "--checkpoint",
        default="",
        metavar="DIR",
        help="use a recovery store in DIR (to resume an interrupted replay); none by default",
    )

    report = sub.add_parser(
        "report",
        parents=[debug],
        help="rebuild the run report page of a finished run",
        description="Read RUN_DIR/summary.json (written by `riverbed demo`, `riverbed run "
        "--report RUN_DIR` or `--summary RUN_DIR/summary.json`) and write RUN_DIR/report.html: "
        "one self-contained page with the run's plots embedded.",
    )
    report.add_argument("run_dir", help="the run's directory (it holds summary.json)")

    broker = sub.add_parser(
        "broker",
        parents=[debug],
        help="run the embedded Kafka-protocol broker in the foreground",
        description="Run noida-db as a Kafka broker on 127.0.0.1 until interrupted; print its "
        "address.",
    )
    models = sub.add_parser(
        "models",
        parents=[debug],
        help="inspect model checkpoint files",
        description="Model checkpoints are versioned files written by a job with "
        "[model_checkpoints] directory set; a new job can warm-start from them.",
    )
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser(
        "list", parents=[debug], help="list the checkpoints in a directory"
    )
    listing.add_argument("directory", help="a model checkpoint directory")

    broker.add_argument("--port", type=int, default=9092, help="port (9092)")
    broker.add_argument("--data-dir", help="data directory (a temporary one by default)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with nullcontext() if args.debug else quiet_panics():
            return _command(args)
    except Exception as exc:
        return _report(exc, args.debug)


def _report(error: Exception, debug: bool) -> int:
    """Print ``error`` as one line per problem (after its traceback with --debug); its code."""
    if debug:
        traceback.print_exception(error)
    if isinstance(error, RiverbedError):
        lines, code = error.lines(), error.exit_code
    else:
        what = " ".join(f"{type(error).__name__}: {error}".split())
        lines, code = [f"unexpected error: {what} (run with --debug for the traceback)"], 1
    for line in lines:
        print(f"riverbed: {line}", file=sys.stderr)
    return code


def _command(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from flows.demo import run_demo

        run_demo(events=args.events, runs_dir=args.runs_dir, seed=args.seed)
    elif args.command == "run":
        from flows.report import format_summary
        from flows.runner import run_job

        summary_path = args.summary
        if summary_path is None and args.report:
            summary_path = os.path.join(args.report, "summary.json")
        summary = run_job(load(args.config), summary_path)
        print(format_summary(summary))
        if args.report:
            from flows.run_page import write_page

            print(f"\nrun report: {write_page(summary, args.report)}")
        _stopped(summary)
    elif args.command == "report":
        _run_page(args.run_dir)
    elif args.command == "validate":
        from flows.validate import validate

        print(validate(args.config, connect=args.connect))
    elif args.command == "init":
        from flows.starter import write_starter

        write_starter(args.data, args.out, force=args.force, label=args.label, rows=args.sample)
    elif args.command == "replay":
        return _replay(args)
    elif args.command == "models":
        from online_models.checkpoints import format_table, list_checkpoints

        print(format_table(list_checkpoints(args.directory)))
    else:
        return _broker(args.port, args.data_dir)
    return 0


def _stopped(summary: dict[str, object]) -> None:
    if summary.get("stopped_by"):
        print(
            f"riverbed: stopped by {summary['stopped_by']}; run the same command again to "
            "resume from the final snapshot",
            file=sys.stderr,
        )


def _replay(args: argparse.Namespace) -> int:
    import time

    from flows.replay import parse_bound, run_replay
    from flows.report import format_summary

    start, end = parse_bound(args.start, "--from"), parse_bound(args.end, "--to")
    out = args.out or f"runs/replay-{time.strftime('%Y%m%d-%H%M%S')}"
    summary = run_replay(
        load(args.config),
        start,
        end,
        out_dir=out,
        frozen=args.frozen,
        warm_start=args.warm_start,
        checkpoint_dir=args.checkpoint,
        force=args.force,
    )
    print(format_summary(summary))
    print(f"\nreplay of {start} .. {end} written to {out}/ (summary.json, replay.json, sinks)")
    _stopped(summary)
    return 0


def _run_page(run_dir: str) -> None:
    """``riverbed report RUN_DIR``: rebuild RUN_DIR/report.html from RUN_DIR/summary.json."""
    import orjson

    from flows.run_page import write_page

    path = os.path.join(run_dir, "summary.json")
    try:
        with open(path, "rb") as f:
            summary = orjson.loads(f.read())
    except OSError as exc:
        raise OptionsError(f"report: cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise OptionsError(f"report: {path} is not a run summary (JSON): {exc}") from None
    if not isinstance(summary, dict) or "events_in" not in summary:
        raise OptionsError(f"report: {path} is not a run summary (it has no events_in)")
    print(f"run report: {write_page(summary, run_dir)}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _broker(port: int, data_dir: str | None) -> int:
    directory = data_dir or tempfile.mkdtemp(prefix="riverbed-broker-")
    broker = EmbeddedBroker(directory, port).start()
    print(
        f"riverbed broker: Kafka at {broker.address} (data in {directory}); Ctrl-C stops it",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        assert broker.proc is not None
        broker.proc.wait()
    except KeyboardInterrupt:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
