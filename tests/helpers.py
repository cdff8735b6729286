"""Small test utilities: waiting on a condition with a deadline (never a fixed sleep).

A probe says why it is not done yet by asserting, as sdk-python's `assert_eventually` does:

    async def onboarded():
        status = await partners.status(client, pid)
        assert status.state == "active", status      # not yet: the message says what was seen
        return status                                # done: the value `eventually` returns

and a timeout re-raises the probe's last AssertionError (pytest shows it with the values compared), noted
with what was awaited and for how long. An AssertionError only ever means "not yet": a probe that must end
the test at once (the worker died, a request that should block returned) calls `pytest.fail(...)`. The
older form still works: a probe that returns a falsy value is not done yet, and a timeout then reports
the last value.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


class _Attempts:
    """The outcome of the attempts so far: the last value, or the last AssertionError."""

    def __init__(self, timeout: float, what: str) -> None:
        self.deadline = time.monotonic() + timeout
        self.timeout, self.what = timeout, what
        self.error: AssertionError | None = None
        self.value: object = None

    @contextlib.contextmanager
    def attempt(self) -> Iterator[None]:
        """One call of the probe: an AssertionError inside is recorded (not yet), anything else propagates."""
        try:
            yield
        except AssertionError as error:
            self.error, self.value = error, None

    def returned(self, value: object) -> bool:
        """Record what the probe returned; True when that ends the wait."""
        self.error, self.value = None, value
        return bool(value)

    def check_deadline(self) -> None:
        if time.monotonic() <= self.deadline:
            return
        waited = f"timed out after {self.timeout}s waiting for {self.what}"
        if self.error is not None:
            self.error.add_note(waited)
            raise self.error
        hint = " (a probe that asserts returns what it checked: None counts as not yet)" if self.value is None else ""
        raise AssertionError(f"{waited}; last value: {self.value!r}{hint}")


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.05,  # noqa: ASYNC109
                     what: str = "condition") -> T:
    """Await `probe()` until it returns a truthy value without an AssertionError, and return that value.
    After `timeout` seconds, re-raise its last AssertionError (or report its last value)."""
    attempts = _Attempts(timeout, what)
    while True:
        with attempts.attempt():
            if attempts.returned(value := await probe()):
                return value
        attempts.check_deadline()
        await asyncio.sleep(interval)


def wait_until(probe: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> T:
    """`eventually` for a synchronous probe."""
    attempts = _Attempts(timeout, what)
    while True:
        with attempts.attempt():
            if attempts.returned(value := probe()):
                return value
        attempts.check_deadline()
        time.sleep(interval)


def history_text(history) -> str:
    """A workflow history (`temporalio.client.WorkflowHistory`) as searchable text: its JSON (which keeps every
    payload base64-encoded) followed by every payload decoded by the project's data converter, one per line.

    Substring checks on the bare JSON never see what activities returned or signals carried; this does."""
    import json

    from google.protobuf.message import Message
    from temporalio.api.common.v1 import Payload
    from temporalio.contrib.pydantic import pydantic_data_converter

    decoded: list[str] = []

    def walk(message: Message) -> None:
        if isinstance(message, Payload):
            value = pydantic_data_converter.payload_converter.from_payload(message)
            decoded.append(json.dumps(value, default=str))
            return
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if field.message_type.GetOptions().map_entry:
                items = value.values()
            elif field.is_repeated:
                items = value
            else:
                items = [value]
            for item in items:
                if isinstance(item, Message):
                    walk(item)

    for event in history.events:
        walk(event)
    return history.to_json() + "\n" + "\n".join(decoded)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a child the test started: SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
