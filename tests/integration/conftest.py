"""The integration tests' brokers (tests/integration/brokers.py): every test that takes
``broker`` (one per session and kind) or ``own_broker`` (its own, to pause or kill) runs on
Apache Kafka and on noida-db; a test marked ``smoke`` runs on Tansu too. Without Java or
Maven the Apache Kafka tier is skipped with the reason (a failure under RIVERBED_NO_SKIP=1)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.broker import EmbeddedBroker
from tests.integration import brokers
from tests.integration.apache_kafka import ToolMissing


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "broker" in metafunc.fixturenames:
        smoke = metafunc.definition.get_closest_marker("smoke") is not None
        kinds = brokers.FULL + (brokers.SMOKE if smoke else ())
        metafunc.parametrize("broker", kinds, indirect=True, scope="session")


def started(kind: str, data_dir: Path) -> EmbeddedBroker:
    try:
        return brokers.broker(kind, data_dir).start()
    except ToolMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    b = started(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(params=brokers.FULL)
def own_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of the test's own, to pause (SIGSTOP) or kill (SIGKILL) by its PID."""
    b = started(request.param, tmp_path / request.param)
    try:
        yield b
    finally:
        if b.proc is not None and b.proc.poll() is None:
            os.kill(b.proc.pid, signal.SIGCONT)  # in case the test left it stopped
        b.stop()
