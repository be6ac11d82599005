"""docker/ cannot run here (no Docker engine on these machines); this checks what can be
checked without one: the job configuration it ships is valid and the compose file's services
and ports agree with it."""

from __future__ import annotations

from pathlib import Path

from flows.config import load

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def test_the_docker_job_config_is_valid_and_matches_the_compose_file():
    cfg = load(DOCKER / "job.toml")
    compose = (DOCKER / "compose.yaml").read_text()
    prometheus = (DOCKER / "prometheus.yml").read_text()
    assert (
        cfg.source.brokers == "kafka:9092"
        and "KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka:9092" in compose
    )
    assert f"riverbed:{cfg.job.metrics_port}" in prometheus
    assert f'"{cfg.job.metrics_port}:{cfg.job.metrics_port}"' in compose
    assert "/config/job.toml" in (DOCKER / "Dockerfile").read_text()
