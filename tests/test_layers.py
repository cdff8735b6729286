"""README's "may import" table, enforced: every module's imports against its package's row.

The table is the one place a reader learns which way dependencies point (pure `rules` at the bottom, the
API and the worker at the top). Read by a person only, it drifted: the API came to import a function out of
`activities/` that was no activity. This test reads the table itself (so README and the check can't
disagree), parses each module with `ast` (top-level imports, imports inside functions, and those inside
`workflow.unsafe.imports_passed_through()`), and names the file, line and import of every violation.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVERYTHING = "*"
_ROW = re.compile(r"^\| `(\w+)(?:/|\.py)` \|.*\| (?P<may>[^|]*) \|\s*$")
_EXCEPTION = re.compile(r"^- `(?P<who>[\w./]+)` → (?P<what>(?:`[\w.]+`(?:, )?)+):")
_TICKED = re.compile(r"`([\w.]+)`")


@dataclass(frozen=True)
class Rules:
    units: frozenset[str]  # top-level packages and modules of the project
    may_import: dict[str, frozenset[str]]  # unit -> modules it may import (EVERYTHING: all)
    exceptions: dict[str, frozenset[str]]  # unit ("workflows") or file ("starter/__main__.py") -> modules


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # the imported module, as precise as the source says (`qbo.errors`, not `qbo`)
    passed_through: bool  # inside `workflow.unsafe.imports_passed_through()`


def project_units(root: Path) -> frozenset[str]:
    packages = {p.parent.name for p in root.glob("*/__init__.py") if p.parent.name != "tests"}
    modules = {p.stem for p in root.glob("*.py")}
    return frozenset(packages | modules)


def read_rules(root: Path) -> Rules:
    """The "Architecture" table's rows and the deliberate exceptions listed under it."""
    units = project_units(root)
    may: dict[str, frozenset[str]] = {}
    exceptions: dict[str, frozenset[str]] = {}
    for line in (root / "README.md").read_text().splitlines():
        if row := _ROW.match(line):
            names = set(_TICKED.findall(row["may"]))
            may[row[1]] = frozenset({EVERYTHING}) if row["may"].startswith("everything") else frozenset(
                n for n in names if n.split(".")[0] in units)
        elif exc := _EXCEPTION.match(line):
            exceptions[exc["who"].rstrip("/")] = frozenset(_TICKED.findall(exc["what"]))
    return Rules(units, may, exceptions)


def _is_module(root: Path, dotted: str) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _passthrough_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With | ast.AsyncWith) and any(
                ast.unparse(item.context_expr).endswith("imports_passed_through()") for item in node.items):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """Every import in the file, wherever it is; `from a import b` is `a.b` when `b` is a module."""
    tree = ast.parse(path.read_text(), str(path))
    passed = _passthrough_lines(tree)
    package = path.relative_to(root).parent.parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, node.lineno in passed)
        elif isinstance(node, ast.ImportFrom):
            base_parts = list(package[: len(package) - node.level + 1]) if node.level else []
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                yield Import(node.lineno, full if _is_module(root, full) else base, node.lineno in passed)


def _allowed(target: str, names: frozenset[str]) -> bool:
    return EVERYTHING in names or any(target == n or target.startswith(n + ".") for n in names)


def _referenced_only(tree: ast.AST, bound: set[str]) -> Iterator[tuple[int, str]]:
    """Uses of `bound` names other than `Name.attr` that is not itself called: the workflow may name an
    activity method (`SyncActivities.fetch_changes`) but never run activity code in the sandbox."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in bound:
            parent = parents.get(node)
            if isinstance(parent, ast.Import | ast.ImportFrom):
                continue
            referenced = isinstance(parent, ast.Attribute) and not (
                isinstance(parents.get(parent), ast.Call) and parents[parent].func is parent)
            if not referenced:
                yield node.lineno, node.id


def violations(root: Path) -> list[str]:
    rules = read_rules(root)
    found = [f"{u}: no row in README's Architecture table" for u in sorted(rules.units - set(rules.may_import))]
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        unit = rel.parts[0].removesuffix(".py")
        if unit not in rules.units:
            continue  # tests, .venv, scripts outside the packages
        allowed = rules.may_import.get(unit, frozenset()) | rules.exceptions.get(unit, frozenset()) \
            | rules.exceptions.get(rel.as_posix(), frozenset())
        by_reference: set[str] = set()
        for imp in dict.fromkeys(imports_of(root, path)):  # `from a import b, c`: one line each
            top = imp.module.split(".")[0]
            if top not in rules.units or top == unit or _allowed(imp.module, allowed):
                continue
            if unit == "workflows" and top == "activities" and imp.passed_through:
                by_reference.add(imp.module)
                continue
            where = " (activities only inside imports_passed_through())" if (unit, top) == ("workflows", "activities") else ""
            found.append(f"{rel}:{imp.line}: imports {imp.module}{where}; `{unit}` may import "
                         f"{', '.join(sorted(allowed)) or 'nothing of the project'}")
        if by_reference:
            tree = ast.parse(path.read_text())
            names = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                     and n.module in by_reference for a in n.names}
            found += [f"{rel}:{line}: uses {name} other than to name an activity method"
                      for line, name in sorted(_referenced_only(tree, names))]
    return found


def test_every_import_is_allowed_by_the_readme_table() -> None:
    assert violations(ROOT) == []


def test_the_table_is_read() -> None:
    """Guards the guard: a README edit that broke the parsing would otherwise allow everything."""
    rules = read_rules(ROOT)
    assert rules.may_import["rules"] == frozenset()
    assert rules.may_import["api"] >= {"starter", "services", "store", "qbo"}
    assert "activities" not in rules.may_import["api"]
    assert rules.may_import["bench"] == {EVERYTHING}
    assert rules.exceptions["workflows"] == {"qbo.errors"}


def _tree(tmp_path: Path, files: dict[str, str], table: str) -> Path:
    (tmp_path / "README.md").write_text(table)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_violations_name_file_line_and_import_wherever_the_import_is(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "low/__init__.py": "",
        "low/pure.py": "def f():\n    from high import top\n    return top\n",
        "high/__init__.py": "",
        "high/top.py": "from low import pure\n",
        "workflows/__init__.py": "",
        "workflows/wf.py": ("from temporalio import workflow\n"
                            "with workflow.unsafe.imports_passed_through():\n"
                            "    from high.top import Acts\n"
                            "    from low import pure\n"
                            "x = Acts.method\n"
                            "y = Acts.method()\n"),
    }, "| `low/` | a | nothing |\n| `high/` | b | `low` |\n| `workflows/` | c | `low`; high only by reference |\n")
    assert violations(root) == [
        "low/pure.py:2: imports high.top; `low` may import nothing of the project",
        "workflows/wf.py:3: imports high.top; `workflows` may import low",
    ]


def test_workflows_may_only_name_activity_methods(tmp_path: Path) -> None:
    files = {"activities/__init__.py": "", "activities/a.py": "class Acts: ...\n", "workflows/__init__.py": ""}
    table = "| `activities/` | a | nothing |\n| `workflows/` | w | activities only by reference |\n"
    wf = ("from temporalio import workflow\n"
          "with workflow.unsafe.imports_passed_through():\n"
          "    from activities.a import Acts\n"
          "ok = Acts.method\n")
    assert violations(_tree(tmp_path, {**files, "workflows/wf.py": wf}, table)) == []
    broken = wf + "bad = Acts.method()\nalso = Acts()\n"
    assert violations(_tree(tmp_path, {**files, "workflows/wf.py": broken}, table)) == [
        "workflows/wf.py:5: uses Acts other than to name an activity method",
        "workflows/wf.py:6: uses Acts other than to name an activity method",
    ]
    outside = "from activities.a import Acts\nok = Acts.method\n"
    assert violations(_tree(tmp_path, {**files, "workflows/wf.py": outside}, table)) == [
        "workflows/wf.py:1: imports activities.a (activities only inside imports_passed_through()); "
        "`workflows` may import nothing of the project"]
