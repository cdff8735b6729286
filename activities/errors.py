"""What every activity class shares: one translation of QBO client errors into Temporal failures, and a
heartbeat that is a no-op when the code runs outside an activity (direct calls in tests).

The workflow's retry policies (workflows/policies.py) match `ApplicationError.type` by class name, so an
activity must raise `to_application_error(exc)` rather than the client's exception itself.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity

from qbo.errors import QboError, to_application_error

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.asynccontextmanager
async def qbo_errors() -> AsyncIterator[None]:
    """QBO errors raised inside leave as ApplicationErrors typed for the workflow's retry policies."""
    try:
        yield
    except QboError as exc:
        raise to_application_error(exc) from None


def qbo_failures(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an activity method (under `@activity.defn`) so QBO errors reach Temporal typed."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        async with qbo_errors():
            return await fn(*args, **kwargs)

    return wrapper


def heartbeat(*details: object) -> None:
    """Tell Temporal this attempt is alive (so a killed worker's attempt is retried within the heartbeat
    timeout, not at the step's deadline)."""
    if activity.in_activity():
        activity.heartbeat(*details)
