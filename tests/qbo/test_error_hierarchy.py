"""The error tree decides what Temporal retries: these tests keep it telling the truth.

`NON_RETRYABLE_TYPES` is derived from the classes in qbo/errors.py when that module is imported. A class
defined anywhere else would be missed (or seen, depending on import order, which workflow code must never
depend on), and a retryable class under a non-retryable parent would make `except QboValidationError` catch
a fault that is worth retrying.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qbo import errors
from qbo.errors import QboError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES_THAT_RAISE = ("qbo", "activities", "services", "api", "starter", "store")


def _every_error_class() -> set[type[QboError]]:
    """Every QboError subclass in the project, after importing every module that could define one."""
    for name in PACKAGES_THAT_RAISE:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(info.name)
    seen: set[type[QboError]] = set()
    todo = [QboError]
    while todo:
        cls = todo.pop()
        seen.add(cls)
        todo += cls.__subclasses__()
    return seen


def test_every_error_class_is_defined_in_qbo_errors() -> None:
    outside = {f"{c.__module__}.{c.__name__}" for c in _every_error_class() if c.__module__ != errors.__name__}
    assert outside == set(), "define QboError subclasses in qbo/errors.py, where the retry list is derived"


def test_the_non_retryable_list_is_exactly_the_non_retryable_classes() -> None:
    classes = _every_error_class()
    assert set(errors.NON_RETRYABLE_TYPES) == {c.__name__ for c in classes if not c.retryable}
    assert not {c.__name__ for c in classes if c.retryable} & set(errors.NON_RETRYABLE_TYPES)


def test_no_class_inverts_its_parents_meaning() -> None:
    """Below QboError's two branches (retryable, not), every class inherits its branch's answer."""
    inverted = [f"{c.__name__} ({c.retryable}) under {base.__name__} ({base.retryable})"
                for c in _every_error_class() for base in c.__bases__
                if base is not QboError and issubclass(base, QboError) and base.retryable != c.retryable]
    assert inverted == []


def _recorded_non_retryable(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "nonRetryableErrorTypes":
                yield from inner
            else:
                yield from _recorded_non_retryable(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _recorded_non_retryable(inner)


def test_names_in_recorded_histories_are_still_non_retryable_classes() -> None:
    """Histories carry the type names of their retry policies: a renamed or moved class would change what a
    replayed or running workflow's activities retry. "BadInput" was removed on purpose: nothing raised it."""
    recorded = {name for path in (ROOT / "tests" / "histories").glob("*.json")
                for name in _recorded_non_retryable(json.loads(path.read_text()))}
    assert recorded, "no retry policy found in the recorded histories: has their format changed?"
    assert recorded - {"BadInput"} <= set(errors.NON_RETRYABLE_TYPES)
