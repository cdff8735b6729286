"""What every activity class shares: one translation of QBO client errors into Temporal failures, and a
heartbeat that is a no-op when the code runs outside an activity (direct calls in tests).

The workflow's retry policies (workflows/policies.py) match `ApplicationError.type` by class name, so an
activity must raise `to_application_error(exc)` rather than the client's exception itself.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity

from qbo.errors import QboError, to_application_error

P = ParamSpec("P")
R = TypeVar("R")


def qbo_failures(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an activity method (under `@activity.defn`) so QBO errors reach Temporal typed. The one way
    activities translate them: on the whole method, so no QBO call can be left outside a narrower block."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except QboError as exc:
            raise temporal_failure(exc) from None

    return wrapper


def temporal_failure(exc: BaseException) -> BaseException:
    """What Temporal sees for `exc`: a QBO error becomes its typed ApplicationError (whose text starts with
    the type name), anything else stays as it is. For code that records a failure before it leaves."""
    return to_application_error(exc) if isinstance(exc, QboError) else exc


def heartbeat(*details: object) -> None:
    """Tell Temporal this attempt is alive (so a killed worker's attempt is retried within the heartbeat
    timeout, not at the step's deadline). A local activity has no heartbeat: the SDK keeps its workflow task
    alive instead."""
    if activity.in_activity() and not activity.info().is_local:
        activity.heartbeat(*details)
