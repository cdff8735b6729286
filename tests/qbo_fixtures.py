"""Where the recorded QBO payloads live: `../shared/qbo-fixtures` next to the repository."""

from __future__ import annotations

from pathlib import Path


def _qbo_fixtures() -> Path:
    """`../shared/qbo-fixtures` next to the repository (the recorded QBO payloads the tests read). Missing or
    empty: fail loudly at import, rather than letting a glob over nothing make the fixture tests vacuous."""
    path = Path(__file__).resolve().parents[2] / "shared" / "qbo-fixtures"
    if not path.is_dir() or not any(path.glob("*.json")):
        raise RuntimeError(f"QBO fixtures not found: {path} must hold the recorded payloads (*.json, *.xml); "
                           "check out ../shared next to the repository")
    return path


QBO_FIXTURES = _qbo_fixtures()
