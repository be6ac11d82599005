"""Apache Kafka as docker/compose.yaml runs it, proved natively: the same version, and the
same KRaft server properties (listeners, the advertised host listener, the controller quorum,
topic auto-creation) on loopback addresses, with a client on the host listener producing and
the job, on the containers' listener, consuming."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient

from flows.broker import free_port
from flows.config import parse
from flows.runner import run_job
from tests.integration import streams
from tests.integration.apache_kafka import VERSION, ApacheKafka, ToolMissing
from tests.integration.procs import ROOT, lines, produce, tag

COMPOSE = ROOT / "docker" / "compose.yaml"


def compose_kafka() -> tuple[str, dict[str, str]]:
    """The kafka service's image and environment, read from docker/compose.yaml."""
    text = COMPOSE.read_text()
    service = re.search(r"^  kafka:\n((?:    .*\n|\s*\n)+)", text, re.M)
    assert service, "no kafka service in docker/compose.yaml"
    body = service.group(1)
    image = re.search(r"^    image: (\S+)$", body, re.M)
    env = re.search(r"^    environment:\n((?:      .*\n)+)", body, re.M)
    assert image and env, "the kafka service has no image or no environment"
    pairs = (line.strip().split(": ", 1) for line in env.group(1).splitlines())
    return image.group(1), {k: v.strip('"') for k, v in pairs if not k.startswith("#")}


def server_properties(env: dict[str, str]) -> dict[str, str]:
    """The apache/kafka image's mapping: KAFKA_A_B -> a.b (``__`` -> ``_``, ``___`` -> ``-``)."""
    out = {}
    for key, value in env.items():
        assert key.startswith("KAFKA_"), key
        name = key[len("KAFKA_") :].lower()
        name = name.replace("___", "-").replace("__", "\0").replace("_", ".").replace("\0", "_")
        out[name] = value
    return out


def test_the_compose_file_runs_the_version_the_tests_run():
    image, _ = compose_kafka()
    assert image == f"apache/kafka:{VERSION}"


def on_loopback(props: dict[str, str], ports: dict[int, int]) -> dict[str, str]:
    """The compose properties on this machine: the container's host name ``kafka`` and the
    wildcard host become 127.0.0.1 (``localhost`` stays), each port a free one."""

    def move(m: re.Match[str]) -> str:
        host = m.group(2) if m.group(2) not in ("", "kafka") else "127.0.0.1"
        return f"{m.group(1)}{host}:{ports[int(m.group(3))]}"

    where = ("listeners", "advertised.listeners", "controller.quorum.voters")
    return {
        k: re.sub(r"(//|@)([\w.]*):(\d+)", move, v) if k in where else v for k, v in props.items()
    }


def current(ev: str, lab: str, n: int, now: int) -> Iterator[tuple[str, bytes, int]]:
    """The test stream with event times from ``now`` on: topics the broker creates keep its
    default retention (7 days), which would delete records of older event times."""
    for event, label in streams.rows(n):
        event["ts"] += now - streams.T0
        yield ev, orjson.dumps(event), event["ts"]
        yield lab, orjson.dumps(label), event["ts"] + 20


def test_the_compose_kraft_properties_run_natively_a_host_client_produces_the_job_consumes(
    tmp_path: Path,
):
    _, env = compose_kafka()
    props = server_properties(env)
    assert props["process.roles"] == "broker,controller"
    assert "HOST://localhost:29092" in props["advertised.listeners"]
    ports = {p: free_port() for p in (9092, 29092, 9093)}
    native = on_loopback(props, ports)
    native["log.dirs"] = str(tmp_path / "kafka" / "logs")  # the image's default is in /tmp
    kafka = ApacheKafka(tmp_path / "kafka", ports[9092], properties=native)
    try:
        kafka.start()
    except ToolMissing as exc:
        pytest.skip(str(exc))
    try:
        inside, host = f"127.0.0.1:{ports[9092]}", f"localhost:{ports[29092]}"
        # Each listener advertises itself: a client is sent back to the address it came on.
        for address, advertised in ((inside, inside), (host, host)):
            brokers = AdminClient({"bootstrap.servers": address}).list_topics(timeout=30).brokers
            assert [f"{b.host}:{b.port}" for b in brokers.values()] == [advertised]
        ev, lab = f"events-{tag()}", f"labels-{tag()}"
        n, now = 5_000, int(time.time() * 1000)
        produce(host, current(ev, lab, n, now))  # the broker creates the topics on first use
        raw = streams.job(inside, ev, lab, str(tmp_path / "out"))
        summary = run_job(parse(raw))
        assert summary["predictions"] == n and summary["labels_joined"] == n
        assert sorted(int(p["id"]) for p in lines(tmp_path / "out" / "predictions.jsonl")) == list(
            range(n)
        )
    finally:
        kafka.stop()
