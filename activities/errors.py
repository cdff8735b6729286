"""One translation of QBO client errors into Temporal failures, shared by every activity class.

The workflow's retry policies (workflows/policies.py) match `ApplicationError.type` by class name, so an
activity must raise `to_application_error(exc)` rather than the client's exception itself.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from qbo.errors import QboError, to_application_error

P = ParamSpec("P")
R = TypeVar("R")


def qbo_failures(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an activity method (under `@activity.defn`) so QBO errors reach Temporal typed."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except QboError as exc:
            raise to_application_error(exc) from None

    return wrapper
