"""Apache Kafka itself (KRaft, one node: broker and controller) for the tests and by hand, no
Docker: Maven resolves the broker's jars from Maven Central once into a cache (not committed),
the storage is formatted for KRaft, and the broker runs on a free loopback port with its own
data directory, started and stopped by its PID like the embedded brokers.

``VERSION`` is the image tag of docker/compose.yaml too (tests/integration/test_apache_kafka.py
checks that the two are equal).

By hand (``make kafka``)::

    python -m tests.integration.apache_kafka [--port 9092] [--data-dir DIR]   # until Ctrl-C
    python -m tests.integration.apache_kafka --cache       # only fill the cache (make kafka-cache)
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from flows.broker import BrokerError, EmbeddedBroker, free_port

VERSION = "4.4.0"
SCALA = "2.13"
# The slf4j binding that the broker's distribution ships (the jars on Maven Central leave the
# logging backend to the application): without it the broker logs nothing.
LOGGING = (
    ("org.slf4j", "slf4j-api", "2.0.17"),
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", "2.25.5"),
)
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "riverbed"
HEAP = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
LOG4J2 = """\
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


class ToolMissing(BrokerError):
    """Java or Maven is not installed: the Apache Kafka tier cannot run here."""


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(
            f"Apache Kafka {VERSION} needs {name} on PATH "
            "(Debian: apt-get install default-jdk-headless maven; .ci/run does)"
        )
    return path


def pom() -> str:
    deps = [("org.apache.kafka", f"kafka_{SCALA}", VERSION), *LOGGING]
    xml = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>riverbed</groupId><artifactId>apache-kafka</artifactId><version>{VERSION}"
        f"</version><packaging>pom</packaging><dependencies>{xml}</dependencies></project>\n"
    )


def jars(cache: Path = CACHE) -> Path:
    """The folder of the broker's jars, resolved by Maven into ``cache/kafka-VERSION`` the
    first time (once per machine: later calls find them there; a lock keeps two processes
    from resolving at once)."""
    home = cache / f"kafka-{VERSION}"
    done = home / "jars" / ".complete"
    if done.exists():
        return done.parent
    tool("java")
    mvn = tool("mvn")
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return done.parent
        (home / "pom.xml").write_text(pom())
        partial = home / "jars.partial"
        shutil.rmtree(partial, ignore_errors=True)
        began = time.monotonic()
        out = subprocess.run(
            [
                mvn, "-q", "-B", "-f", str(home / "pom.xml"), "dependency:copy-dependencies",
                f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
            ],
            capture_output=True, text=True,
        )  # fmt: skip
        if out.returncode != 0:
            tail = (out.stdout + out.stderr).strip().splitlines()[-5:]
            raise BrokerError(f"maven could not resolve Apache Kafka {VERSION}: {' | '.join(tail)}")
        shutil.rmtree(done.parent, ignore_errors=True)
        partial.rename(done.parent)
        done.write_text(f"resolved in {time.monotonic() - began:.1f} s\n")
    return done.parent


def class_archive() -> Path:
    """The broker's class-data-sharing archive (JDK AppCDS), kept beside its jars."""
    return jars().parent / "broker.jsa"


def cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's Uuid)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def loopback_properties(port: int, controller_port: int, data_dir: Path) -> dict[str, str]:
    """One KRaft node on 127.0.0.1 (broker on ``port``, controller on ``controller_port``)."""
    return {
        "node.id": "1",
        "process.roles": "broker,controller",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "log.dirs": str(data_dir / "logs"),
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }


class ApacheKafka(EmbeddedBroker):
    """Apache Kafka ``VERSION`` in KRaft mode on ``127.0.0.1:port``, as a context manager.

    Args:
        data_dir: its data directory (``server.properties``, the formatted ``logs/``, the log);
            a restart on the same directory keeps every topic and record.
        port: the client port; a free one when None.
        properties: the server properties instead of :func:`loopback_properties` (their
            ``log.dirs`` is used as given); ``port`` must then be the one clients bootstrap on.
    """

    kind = "kafka"

    def __init__(
        self,
        data_dir: str | Path,
        port: int | None = None,
        properties: dict[str, str] | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        self.properties = properties or loopback_properties(self.port, free_port(), self.data_dir)
        self.started_in_s = 0.0

    def command(self) -> list[str]:
        classpath = f"{jars()}/*"
        props = self.data_dir / "server.properties"
        log_dirs = Path(self.properties["log.dirs"])
        if not (log_dirs / "meta.properties").exists():
            format_ = self.java(classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id())
            out = subprocess.run([*format_, "-c", str(props)], capture_output=True, text=True)
            if out.returncode != 0:
                raise BrokerError(f"kafka storage format failed: {out.stdout}{out.stderr}".strip())
        return self.java(classpath, "kafka.Kafka", str(props))

    def java(self, classpath: str, main: str, *args: str) -> list[str]:
        """A JVM running ``main``, with the class archive of an earlier broker when there is
        one (it starts in a third of the time); the first broker to stop writes it."""
        shared = class_archive()
        if shared.exists():
            share = [f"-XX:SharedArchiveFile={shared}"]
        elif main == "kafka.Kafka":
            share = [f"-XX:ArchiveClassesAtExit={self.data_dir / shared.name}"]
        else:
            share = []
        log4j = self.data_dir / "log4j2.properties"
        return [
            tool("java"), *HEAP, *share, "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, main, *args,
        ]  # fmt: skip

    def start(self, timeout_s: float = 120.0) -> ApacheKafka:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j2.properties").write_text(LOG4J2)
        text = "".join(f"{k}={v}\n" for k, v in self.properties.items())
        (self.data_dir / "server.properties").write_text(text)
        began = time.monotonic()
        super().start(timeout_s)
        # Answering metadata comes before the broker has registered with its controller: wait
        # until it lists itself, or creating a topic fails for want of a broker.
        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        while not admin.list_topics(timeout=10).brokers:
            if time.monotonic() - began > timeout_s:
                self.stop()
                raise BrokerError(f"kafka at {self.address} listed no broker in {timeout_s} s")
            time.sleep(0.1)
        self.started_in_s = time.monotonic() - began
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        super().stop(sig, timeout_s)
        made = self.data_dir / class_archive().name
        if made.exists() and not class_archive().exists():
            os.replace(made, class_archive())


def fill_cache() -> str:
    """Resolve the jars and write the class archive (by starting and stopping a broker once),
    so that no test pays for either; say what the cache holds."""

    def start_up_s() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            kafka = ApacheKafka(tmp).start()
            kafka.stop()
            return kafka.started_in_s

    where = jars()
    first = None if class_archive().exists() else start_up_s()
    again = start_up_s()
    made = "" if first is None else f"first start {first:.1f} s, "
    return (
        f"Apache Kafka {VERSION}: {len(list(where.glob('*.jar')))} jars and the class archive "
        f"in {where.parent}; {made}start with the archive {again:.1f} s (storage format included)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make kafka", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=9092)
    ap.add_argument("--data-dir", default="runs/kafka", help="kept between runs")
    ap.add_argument("--cache", action="store_true", help="only resolve the jars and archive")
    args = ap.parse_args(argv)
    try:
        if args.cache:
            print(fill_cache(), flush=True)
            return 0
        broker = ApacheKafka(args.data_dir, args.port).start()
    except BrokerError as exc:
        print(f"make kafka: {exc}", file=sys.stderr)
        return 1
    print(
        f"Apache Kafka {VERSION} (KRaft) on {broker.address}, data in {args.data_dir}, "
        f"started in {broker.started_in_s:.1f} s; Ctrl-C stops it",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        assert broker.proc is not None
        broker.proc.wait()
        print(f"make kafka: the broker exited with {broker.proc.returncode}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
