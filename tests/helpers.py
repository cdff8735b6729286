"""Small test utilities: waiting on a condition with a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.05,  # noqa: ASYNC109
                     what: str = "condition") -> T:
    """Await `probe()` until it returns a truthy value; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(interval)


def wait_until(probe: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
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
