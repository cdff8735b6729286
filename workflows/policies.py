"""Timeouts and retry policies per kind of activity, matched to the QBO client's exceptions.

Auth failures are not retried: the workflow moves to `needs_reconnect` and waits for a signal instead of
spinning. Validation and not-found faults won't succeed on retry either. Throttling and server errors
back off (the client sets `next_retry_delay` on 429, qbo-reference §9). Every QBO step has a deadline
(`schedule_to_close`), so a step that keeps failing ends the cycle with `last_error` and the next cycle
tries again, instead of blocking the partner forever. Database-only steps retry whatever they raise until
their deadline: nothing they raise is permanent (a `"BadInput"` type was listed once; nothing raised it).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

# No I/O and nothing else of the project in that module: safe in the workflow sandbox. The list is derived
# from the error classes when qbo.errors is imported, so it is the same on every worker and every replay.
from qbo.errors import NON_RETRYABLE_TYPES

AUTH_ERROR_TYPES = ["QboAuthError"]
NON_RETRYABLE = list(NON_RETRYABLE_TYPES)

# Every step that talks to QBO backs off the same way; only its deadlines differ.
QBO_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                        maximum_interval=timedelta(minutes=2), non_retryable_error_types=NON_RETRYABLE)

QBO = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=2),
    schedule_to_close_timeout=timedelta(minutes=20),
    retry_policy=QBO_RETRY,
)
POSTING = workflow.ActivityConfig(  # writes in batches and heartbeats per batch: a killed worker's attempt is retried in 30 s
    start_to_close_timeout=timedelta(minutes=5),
    schedule_to_close_timeout=timedelta(minutes=20),
    heartbeat_timeout=timedelta(seconds=30),
    retry_policy=QBO_RETRY,
)
LONG_QBO = workflow.ActivityConfig(  # pages through QBO: heartbeats, so a dead worker is noticed in a minute, not at the deadline
    start_to_close_timeout=timedelta(minutes=15),
    schedule_to_close_timeout=timedelta(minutes=60),
    heartbeat_timeout=timedelta(seconds=60),
    retry_policy=QBO_RETRY,
)
# A cycle's CDC read (workflows/cycle.py, patch `cycle-fetch-local`): one QBO request and a few statements,
# run as a local activity inside the workflow task. Local activities don't heartbeat: a killed worker's
# attempt is run again when the workflow task times out (10 s), and one that outlasts the task is kept alive
# by the SDK. The deadlines are LONG_QBO's, for the rare fetch that must sweep (a cursor past CDC's 30 days).
CDC_FETCH = workflow.LocalActivityConfig(
    start_to_close_timeout=timedelta(minutes=15),
    schedule_to_close_timeout=timedelta(minutes=60),
    retry_policy=QBO_RETRY,
)
DB_ONLY = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=5),
    schedule_to_close_timeout=timedelta(minutes=30),
    heartbeat_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
)


def is_auth_failure(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type in AUTH_ERROR_TYPES


def describe_failure(err: ActivityError) -> str:
    """An activity's failure as `last_error` shows it: the error type and QBO's message."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'error'}: {cause.message}"
    return str(cause or err)
