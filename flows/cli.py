"""The ``riverbed`` command line: ``demo``, ``run CONFIG``, ``broker``, ``models list DIR``."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Sequence

from flows.broker import BrokerError, EmbeddedBroker
from flows.config import ConfigError, load
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
        elif args.command == "models":
            from online_models.checkpoints import format_table, list_checkpoints

            print(format_table(list_checkpoints(args.directory)))
        else:
            return _broker(args.port, args.data_dir)
    except (ConfigError, ModelError) as exc:
        print(f"riverbed: {exc}", file=sys.stderr)
        return 2
    except (SourceError, BrokerError) as exc:
        print(f"riverbed: {exc}", file=sys.stderr)
        return 1
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
