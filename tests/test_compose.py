"""docker-compose.yml validates with the real Compose binary (no engine needed), and the check can fail."""

import json
import shutil
import subprocess
from pathlib import Path

from devstack.binaries import compose_binary_path

ROOT = Path(__file__).resolve().parents[1]
ENV = {"APP_DB_PASSWORD": "x", "TEMPORAL_DB_PASSWORD": "x", "QBO_CLIENT_SECRET": "x",
       "QBO_WEBHOOK_VERIFIER_TOKEN": "x", "TOKEN_ENCRYPTION_KEY": "x", "API_KEY": "x", "PATH": "/usr/bin:/bin", "HOME": "/tmp"}


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
            "worker", "api", "qbo-emulator"} <= services


def test_only_the_api_is_published_beyond_localhost():
    """Temporal's frontend and UI have no auth of their own, and the emulator issues tokens to anyone: they
    are published on 127.0.0.1 only (issue 14 item 1). The API is published, behind its key."""
    services = resolved()["services"]
    for name in ("temporal", "temporal-ui", "qbo-emulator"):
        ports = services[name]["ports"]
        assert ports and all(p.get("host_ip") == "127.0.0.1" for p in ports), (name, ports)
    assert services["api"]["ports"][0]["published"] == "8000"


def test_compose_needs_an_api_key():
    result = compose_config(ROOT, {k: v for k, v in ENV.items() if k != "API_KEY"})
    assert result.returncode != 0
    assert "set API_KEY" in result.stderr
