"""A real Kafka-protocol broker (noida-db, from PyPI) for the integration tests: started on a
free loopback port with its own data directory, stopped by its PID."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flows.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(tmp_path_factory.mktemp("noida")).start()
    try:
        yield b
    finally:
        b.stop()
