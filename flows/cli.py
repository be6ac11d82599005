"""The ``riverbed`` command line: ``demo``, ``run CONFIG``, ``replay CONFIG``, ``broker``,
``models list DIR``.

Exit codes: 0 done (also after a graceful stop by SIGTERM or SIGINT), 1 the job failed at run
time (broker, topic, sink: the message names it), 2 the configuration or a model checkpoint is
invalid.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Sequence

from flows.broker import BrokerError, EmbeddedBroker
from flows.config import ConfigError, load
from flows.replay import ReplayError
from flows.sources import SourceError
from online_models.errors import ModelError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="riverbed",
        description="A continual-learning stream engine: Bytewax dataflows over Kafka that "
        "featurize, learn online with River, select models and watch for drift.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
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
        help="run a job from a TOML configuration",
        description="Validate CONFIG (every error at once), run the job until its input ends "
        "or it is stopped, and write the run summary.",
    )
    run.add_argument("config", help="the job's TOML configuration (see docs/CONFIG.md)")
    run.add_argument("--summary", help="write the run summary JSON here")
    run.epilog = (
        "SIGTERM or SIGINT (Ctrl-C) stops the job gracefully: the current batch is finished, "
        "a final recovery snapshot is taken (with checkpoint.directory), the run summary is "
        "written, and the exit code is 0; a second signal stops it at once. Run the same "
        "command again to resume."
    )

    replay = sub.add_parser(
        "replay",
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

    broker = sub.add_parser(
        "broker",
        help="run the embedded Kafka-protocol broker in the foreground",
        description="Run noida-db as a Kafka broker on 127.0.0.1 until interrupted; print its "
        "address.",
    )
    models = sub.add_parser(
        "models",
        help="inspect model checkpoint files",
        description="Model checkpoints are versioned files written by a job with "
        "[model_checkpoints] directory set; a new job can warm-start from them.",
    )
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="list the checkpoints in a directory")
    listing.add_argument("directory", help="a model checkpoint directory")

    broker.add_argument("--port", type=int, default=9092, help="port (9092)")
    broker.add_argument("--data-dir", help="data directory (a temporary one by default)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from flows.demo import run_demo

            run_demo(events=args.events, runs_dir=args.runs_dir, seed=args.seed)
        elif args.command == "run":
            from flows.report import format_summary
            from flows.runner import run_job

            summary = run_job(load(args.config), args.summary)
            print(format_summary(summary))
            _stopped(summary)
        elif args.command == "replay":
            return _replay(args)
        elif args.command == "models":
            from online_models.checkpoints import format_table, list_checkpoints

            print(format_table(list_checkpoints(args.directory)))
        else:
            return _broker(args.port, args.data_dir)
    except (ConfigError, ModelError, ReplayError) as exc:
        print(f"riverbed: {exc}", file=sys.stderr)
        return 2
    except (SourceError, BrokerError) as exc:
        print(f"riverbed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # Bytewax wraps what a source or sink raised in its own error: find the cause.
        cause = _cause(exc)
        if cause is None:
            raise
        print(f"riverbed: {cause}", file=sys.stderr)
        return 2 if isinstance(cause, (ConfigError, ModelError, ReplayError)) else 1
    return 0


def _cause(exc: BaseException) -> BaseException | None:
    """The riverbed error behind ``exc`` (through ``__cause__`` and ``__context__``)."""
    from flows.sinks import SinkError

    known = (SourceError, SinkError, BrokerError, ConfigError, ModelError, ReplayError)
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, known):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


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
