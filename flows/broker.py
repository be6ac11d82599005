"""The embedded Kafka-protocol broker for the demo, `riverbed broker` and the tests.

noida-db (from PyPI, extra ``broker``) runs as a child process on a free loopback port with its
own data directory, so topics and committed data survive its restarts. It is stopped by its PID,
never by name.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from flows.errors import BrokerError

__all__ = ["EmbeddedBroker", "free_port", "create_topics"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary() -> str:
    spec = importlib.util.find_spec("noida_db")
    if spec is None or not spec.submodule_search_locations:
        raise BrokerError(
            "the embedded broker needs noida-db: pip install 'riverbed[broker]' (make demo does)"
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / "noida-db")


class EmbeddedBroker:
    """A noida-db Kafka broker on ``127.0.0.1:port``, as a context manager.

    Args:
        data_dir: where the broker keeps its topics (created if missing).
        port: the port; a free one when None.
        log_path: where the broker's output goes (default: ``data_dir/broker.log``).
    """

    def __init__(self, data_dir: str | Path, port: int | None = None, log_path: str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.log_path = log_path or str(self.data_dir / "broker.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The broker's command line (noida-db; a subclass may run another broker)."""
        cmd = [_binary(), "start", "--only", "kafka", "--kafka-port", str(self.port)]
        return cmd + ["--data-dir", str(self.data_dir)]

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        # Quiet: librdkafka would log every refused connection while the broker starts.
        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        while True:
            if self.proc.poll() is not None:
                raise BrokerError(f"broker exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    pass
                admin.list_topics(timeout=1.0)
                return self
            except (OSError, KafkaException):
                if time.monotonic() > deadline:
                    self.stop()
                    msg = f"broker at {self.address} did not answer in {timeout_s} s"
                    raise BrokerError(msg) from None
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        """Stop the broker by its PID (SIGTERM, then SIGKILL after ``timeout_s``)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def create_topics(
    brokers: str, topics: list[str], partitions: int = 1, config: dict[str, str] | None = None
) -> None:
    """Create topics that keep every record (existing topics are fine).

    Retention is off: the demo's and the tests' streams carry event times in the past, which a
    time-based retention would delete at once, and a replay needs the whole history. ``config``
    adds topic settings (e.g. ``max.message.bytes``).
    """
    admin = AdminClient({"bootstrap.servers": brokers})
    keep = {"retention.ms": "-1", "retention.bytes": "-1", **(config or {})}
    futures = admin.create_topics([NewTopic(t, partitions, 1, config=keep) for t in topics])
    for topic, future in futures.items():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"cannot create topic {topic!r} on {brokers}: {exc}") from None
