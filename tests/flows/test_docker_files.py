"""docker/ cannot run here (no Docker engine on these machines); this checks what can be
checked without one (docs/DEPLOY.md, "How it was checked"): the compose file parses and names
only the images, ports and files that docs/DEPLOY.md describes; the job configuration it ships
is valid and agrees with it; Prometheus's configuration and rules pass promtool; the Grafana
provisioning is well-formed. tests/integration/test_prometheus.py checks that every metric of
the dashboard and the rules is in a live scrape."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from flows.config import load

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_the_compose_file_names_only_what_deploy_md_describes(compose):
    deploy = (ROOT / "docs/DEPLOY.md").read_text()
    services = compose["services"]
    assert set(services) == {"kafka", "producer", "riverbed", "prometheus", "grafana"}
    for name, svc in services.items():
        assert f"`{name}`" in deploy
        if "image" in svc:
            assert f"`{svc['image']}`" in deploy, svc["image"]
        else:
            assert svc["build"]["dockerfile"] == "docker/Dockerfile"
            assert "docker/Dockerfile" in deploy
        for port in svc.get("ports", []):
            host = port.split(":")[0]
            assert f"`{host}`" in deploy, (name, port)
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), source
                assert f"`docker/{source[2:]}" in deploy, source
            else:
                assert source in compose["volumes"] and f"`{source}`" in deploy, source
    assert set(compose["volumes"]) == {"kafka-data", "riverbed-state"}


def test_kafka_has_an_internal_and_a_host_listener_and_keeps_its_data(compose):
    env = compose["services"]["kafka"]["environment"]
    advertised = dict(x.split("://") for x in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised == {"PLAINTEXT": "kafka:9092", "HOST": "localhost:29092"}
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "PLAINTEXT"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert "kafka-data:" + env["KAFKA_LOG_DIRS"] in compose["services"]["kafka"]["volumes"]
    assert compose["services"]["kafka"]["ports"] == ["29092:29092"]


def test_the_job_config_is_valid_and_matches_compose_and_prometheus(compose):
    cfg = load(DOCKER / "job.toml")
    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    assert cfg.source.brokers == "kafka:9092"
    assert cfg.job.metrics_host == "0.0.0.0"
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"riverbed:{cfg.job.metrics_port}"]
    riverbed = compose["services"]["riverbed"]
    assert f"{cfg.job.metrics_port}:{cfg.job.metrics_port}" in riverbed["ports"]
    assert "./job.toml:/config/job.toml:ro" in riverbed["volumes"]
    assert cfg.checkpoint.directory.startswith("/state/")
    assert "riverbed-state:/state" in riverbed["volumes"]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert '"/config/job.toml"' in dockerfile and "\nUSER riverbed\n" in dockerfile
    assert "FROM python:3.11-slim" in dockerfile


def test_the_build_context_is_only_the_sources():
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "*" in ignore  # everything is left out but what is let back in
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        line.split()[1]
        for line in (DOCKER / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
    }
    assert copied == {"pyproject.toml", "flows", "operators", "online_models"}
    assert copied <= allowed and "README.md" in allowed


def test_promtool_accepts_the_prometheus_config_and_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    check = subprocess.run(
        [promtool, "check", "config", str(DOCKER / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1 rule files found" in check.stdout + check.stderr


def test_grafana_is_provisioned_with_the_data_source_and_the_dashboard():
    prov = DOCKER / "grafana/provisioning"
    source = yaml.safe_load((prov / "datasources/prometheus.yml").read_text())["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((prov / "dashboards/riverbed.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((DOCKER / "grafana/dashboards/riverbed.json").read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"]
        assert all(t["expr"] for t in panel["targets"])
