"""The brokers the integration suite runs on, each a real process on a free loopback port with
its own data directory, stopped by its PID:

- ``kafka``: Apache Kafka itself (KRaft), the reference (tests/integration/apache_kafka.py);
- ``noida``: noida-db, the embedded default of ``riverbed demo``, ``riverbed broker`` and of a
  machine without Java;
- ``tansu``: Tansu, in memory, for the smoke subset (tests marked ``smoke``).

The whole suite runs on ``FULL``; the differences found between them are in docs/OPERATIONS.md.
"""

from __future__ import annotations

from pathlib import Path

from flows.broker import EmbeddedBroker
from tests.integration.apache_kafka import ApacheKafka
from tests.integration.tansu import TansuBroker

FULL = ("kafka", "noida")
SMOKE = ("tansu",)


class NoidaBroker(EmbeddedBroker):
    kind = "noida"


def broker(kind: str, data_dir: Path) -> EmbeddedBroker:
    """A broker of ``kind`` (not started) keeping its data under ``data_dir``."""
    if kind == "kafka":
        return ApacheKafka(data_dir)
    if kind == "noida":
        return NoidaBroker(data_dir)
    if kind == "tansu":
        return TansuBroker(data_dir / "tansu.log")
    raise ValueError(f"no broker kind {kind!r}: one of {FULL + SMOKE}")
