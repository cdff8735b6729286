"""The image's build context holds no secret, local data or git history (issue 14 item 5).

Docker is not needed: the context is computed from `.dockerignore` with `pathspec`. Its gitignore rules
and Docker's agree on patterns anchored with "/" or starting with "**/", and the file is checked to use
only those, so the computed list is the one `docker build` would send."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pathspec
import pytest

ROOT = Path(__file__).resolve().parents[1]

# What a developer's checkout really holds after `make run`, beyond the tracked files.
SECRETS = [".env", ".env.production", "deploy/.env", ".devdata/dev-secrets.json", ".devdata/temporal.db",
           ".devdata/emulator.sqlite3", ".devdata/pgdata/PG_VERSION", ".devdata/pgdata/base/5/16384",
           ".git/config", ".git/objects/ab/cdef0123", ".venv/bin/python", "api/__pycache__/app.cpython-311.pyc"]
NEEDED = ["Dockerfile", "pyproject.toml", "README.md", "settings.py", "worker.py", "api/app.py",
          "qbo_emulator/__main__.py", "store/migrations/0001_platform.sql"]


def patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def build_context(root: Path, dockerignore: str) -> set[str]:
    """Every file under `root` that the ignore rules let into the build context, as posix paths."""
    spec = pathspec.PathSpec.from_lines("gitignore", patterns(dockerignore))
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    return {f for f in files if not spec.match_file(f)}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The tracked files plus what `make run` and a developer leave beside them."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in [*tracked.stdout.split(), *SECRETS]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    return tmp_path


def test_context_holds_no_secret_data_or_history(checkout: Path) -> None:
    context = build_context(checkout, (ROOT / ".dockerignore").read_text())
    assert not {f for f in context if f in SECRETS or f.startswith((".git/", ".devdata/"))}, context
    assert set(NEEDED) <= context  # the build still has what `pip install .` needs
    assert not any(f.startswith(("tests/", "bench/")) for f in context)


def test_without_the_ignore_file_the_secrets_would_be_sent(checkout: Path) -> None:
    """The check can fail: with no rules, every secret is in the context."""
    assert set(SECRETS) <= build_context(checkout, "")


def test_patterns_mean_the_same_to_docker_and_to_gitignore() -> None:
    """Docker anchors a bare `name` at the root while gitignore matches it at any depth, and a trailing "/"
    means 'directory' only to gitignore; patterns that avoid both mean the same to either."""
    for pattern in patterns((ROOT / ".dockerignore").read_text()):
        body = pattern.removeprefix("!")
        assert body.startswith(("/", "**/")) and not body.endswith("/"), pattern


def test_env_files_are_git_ignored() -> None:
    for name in (".env", ".env.production"):
        result = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT)
        assert result.returncode == 0, f"{name} is not git-ignored"
