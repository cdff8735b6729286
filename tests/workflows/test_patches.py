"""README's "Workflow patches" table against the code: every patch id in use is listed with its stage, and
every listed id is still in the code, so a patch nobody plans to deprecate (or a stale row) is seen.

The ids are read with `ast` from every `workflow.patched("…")` and `workflow.deprecate_patch("…")` call in
`workflows/`; the table's "history" column must name a recorded history that holds the patch's marker.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from tests.helpers import history_text

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"
_ROW = re.compile(r"^\| `(?P<id>[\w-]+)` \| (?P<stage>patched|deprecated) \| (?P<since>\w+) \|.*\| (?P<history>[^|]+) \|\s*$")
_STAGE = {"patched": "patched", "deprecate_patch": "deprecated"}


def patches_in_code(root: Path = ROOT) -> dict[str, str]:
    """patch id → stage ("patched" or "deprecated"), from the calls in workflows/."""
    found: dict[str, str] = {}
    for path in sorted((root / "workflows").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _STAGE and ast.unparse(node.func.value) == "workflow"):
                continue
            arg = node.args[0] if node.args else None
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                f"{path.name}:{node.lineno}: a patch id must be a string literal, so it can be listed")
            found[arg.value] = _STAGE[node.func.attr]
    return found


def patches_in_readme(root: Path = ROOT) -> dict[str, re.Match[str]]:
    text = (root / "README.md").read_text()
    section = text.split("### Workflow patches", 1)[1].split("\n## ", 1)[0]
    return {m["id"]: m for line in section.splitlines() if (m := _ROW.match(line))}


def test_every_patch_in_the_code_is_in_readme_and_back():
    in_code, listed = patches_in_code(), patches_in_readme()
    assert in_code, "no workflow.patched call found: the parser is broken"
    missing = sorted(set(in_code) - set(listed))
    stale = sorted(set(listed) - set(in_code))
    assert not missing, f"patch ids in workflows/ but not in README's 'Workflow patches' table: {missing}"
    assert not stale, f"README lists patch ids that workflows/ no longer uses (remove the rows): {stale}"
    wrong = {i: (listed[i]["stage"], stage) for i, stage in in_code.items() if listed[i]["stage"] != stage}
    assert not wrong, f"README's stage differs from the code's call (README, code): {wrong}"


@pytest.mark.parametrize("patch_id", sorted(patches_in_readme()))
def test_the_named_history_records_the_patch(patch_id: str):
    row = patches_in_readme()[patch_id]
    named = row["history"].strip()
    if named.startswith("none"):
        pytest.skip(f"{patch_id}: no recorded history takes the new path yet (README says so)")
    path = HISTORIES / f"{named.strip('`')}.json"
    assert path.is_file(), f"{patch_id}: README names {named}, which is not in tests/histories"
    text = history_text(WorkflowHistory.from_json(path.stem, path.read_text()))
    assert patch_id in text, f"{patch_id}: {path.name} holds no marker of it"
