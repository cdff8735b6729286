"""docker-compose.yml validates with the real Compose binary (no engine needed), and the check can fail."""

import json
import shutil
import subprocess
from pathlib import Path

from devstack.binaries import compose_binary_path

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy/grafana/dashboards/qbo-fleet.json"
ENV = {"APP_DB_PASSWORD": "x", "TEMPORAL_DB_PASSWORD": "x", "QBO_CLIENT_SECRET": "x",
       "QBO_WEBHOOK_VERIFIER_TOKEN": "x", "TOKEN_ENCRYPTION_KEY": "x", "API_KEY": "x", "GRAFANA_ADMIN_PASSWORD": "x",
       "PATH": "/usr/bin:/bin", "HOME": "/tmp"}


def compose_config(project_dir: Path, env: dict[str, str] = ENV) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(compose_binary_path()), "-f", str(project_dir / "docker-compose.yml"), "config", "--quiet"],
        cwd=project_dir, env=env, capture_output=True, text=True,
    )


def test_compose_file_is_valid():
    result = compose_config(ROOT)
    assert result.returncode == 0, result.stderr


def test_compose_check_fails_on_a_broken_file(tmp_path):
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    text = (ROOT / "docker-compose.yml").read_text()
    (tmp_path / "docker-compose.yml").write_text(text.replace("    healthcheck:", "    healthchek:", 1))
    result = compose_config(tmp_path)
    assert result.returncode != 0
    assert "healthchek" in result.stderr


def resolved() -> dict:
    result = subprocess.run(
        [str(compose_binary_path()), "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout)


def test_compose_has_every_part_of_the_design():
    services = set(resolved()["services"])
    assert {"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "migrate",
            "worker", "api", "qbo-emulator", "prometheus", "grafana"} <= services


def test_only_the_api_is_published_beyond_localhost():
    """Temporal's frontend and UI have no auth of their own, and the emulator issues tokens to anyone: they
    are published on 127.0.0.1 only (issue 14 item 1). The API is published, behind its key."""
    services = resolved()["services"]
    for name in ("temporal", "temporal-ui", "qbo-emulator", "prometheus", "grafana"):
        ports = services[name]["ports"]
        assert ports and all(p.get("host_ip") == "127.0.0.1" for p in ports), (name, ports)
    assert services["api"]["ports"][0]["published"] == "8000"
    assert not services["worker"].get("ports"), "the worker's metrics stay on the compose network"


def test_compose_needs_an_api_key():
    result = compose_config(ROOT, {k: v for k, v in ENV.items() if k != "API_KEY"})
    assert result.returncode != 0
    assert "set API_KEY" in result.stderr


def test_compose_needs_a_grafana_password():
    result = compose_config(ROOT, {k: v for k, v in ENV.items() if k != "GRAFANA_ADMIN_PASSWORD"})
    assert result.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_prometheus_scrapes_the_api_with_its_key_and_every_worker():
    services = resolved()["services"]
    worker_env = services["worker"]["environment"]
    assert worker_env["METRICS_BIND_HOST"] == "0.0.0.0" and worker_env["QBO_ENV"] == "emulator"  # app env kept
    entrypoint = " ".join(services["prometheus"]["entrypoint"])
    assert "${API_KEY%%,*}" in entrypoint and "> /tmp/api_key" in entrypoint  # first key, into a file
    config = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    for needle in ('targets: ["api:8000"]', "credentials_file: /tmp/api_key", "port: 9464", "port: 9465"):
        assert needle in config, needle
    mounts = {v["target"]: v["source"] for v in services["grafana"]["volumes"] if v["type"] == "bind"}
    for target, source in mounts.items():
        assert Path(source).exists(), (target, source)
    dashboards = (ROOT / "deploy/grafana/provisioning/dashboards/qbo.yml").read_text()
    assert "path: /var/lib/grafana/dashboards" in dashboards and "/var/lib/grafana/dashboards" in mounts


def test_the_dashboard_queries_only_metrics_the_service_exposes():
    """Every qbo_ series a panel queries is one our collectors produce (the temporal_ ones are checked
    against a live worker in tests/metrics/test_worker_metrics.py)."""
    from tests.metrics.names import dashboard_metric_names, exposed_service_metric_names

    used = {n for n in dashboard_metric_names() if n.startswith("qbo_")}
    assert used and used <= exposed_service_metric_names(), used - exposed_service_metric_names()
    panels = json.loads(DASHBOARD.read_text())["panels"]
    titles = " ".join(p["title"] for p in panels).lower()
    for topic in ("partners by state", "sync lag", "postings by status", "qbo errors", "webhook rate"):
        assert topic in titles, topic
