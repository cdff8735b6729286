"""Request bodies are capped while they are read (PRODUCT.md §6, issue 14 item 2): webhook 2 MiB, every
other endpoint 1 MiB, 413 in the error shape, and the app stops reading at the cap. Bodies are streamed
from generators that count what the app pulled, so "stopped reading" is measured, not assumed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from api.body_limit import MiB
from tests.api.conftest import assert_error, served_app

CHUNK = 64 * 1024


class Body:
    """A request body of `total` bytes in chunks, recording how many bytes the server pulled."""

    def __init__(self, total: int, byte: bytes = b" ") -> None:
        self.total, self.byte, self.sent = total, byte, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            chunk = self.byte * min(CHUNK, self.total - self.sent)
            self.sent += len(chunk)
            yield chunk


async def _counts(db_pool) -> tuple[int, int]:
    return (await db_pool.fetchval("SELECT count(*) FROM partners"),
            await db_pool.fetchval("SELECT count(*) FROM webhook_events"))


async def test_chunked_bodies_over_the_cap_are_refused_while_reading(app_client, db_pool) -> None:
    before = await _counts(db_pool)
    for path, cap in (("/webhooks/qbo", 2 * MiB), ("/partners", 1 * MiB)):
        body = Body(64 * MiB)
        resp = await app_client.post(path, content=body, headers={"Content-Type": "application/json"})
        err = assert_error(resp, 413, "payload_too_large")
        assert f"{cap // MiB} MiB" in err["message"], err
        assert cap < body.sent <= cap + 2 * CHUNK, f"{path}: read {body.sent} bytes of {body.total}"
    assert await _counts(db_pool) == before


async def test_each_endpoint_has_its_own_cap(app_client, new_partner) -> None:
    """1.5 MiB is too much for a JSON endpoint but within the webhook's cap (refused there only for its
    missing signature)."""
    pid = await new_partner()
    size = 3 * MiB // 2
    assert_error(await app_client.post("/webhooks/qbo", content=Body(size)), 401, "bad_signature")
    assert_error(await app_client.put(f"/partners/{pid}/qbo/preferences", content=Body(size)), 413,
                 "payload_too_large")
    small = await app_client.post("/partners", json={"name": "x" * 100})
    assert small.status_code == 201, small.text


async def test_a_lying_content_length_does_not_lift_the_cap(app_client, db_pool) -> None:
    before = await _counts(db_pool)
    body = Body(16 * MiB)
    resp = await app_client.post("/partners", content=body,
                                 headers={"Content-Length": "20", "Content-Type": "application/json"})
    assert_error(resp, 413, "payload_too_large")
    assert body.sent <= 1 * MiB + 2 * CHUNK
    assert await _counts(db_pool) == before


async def test_a_declared_content_length_over_the_cap_is_refused_before_reading(app_client) -> None:
    body = Body(8 * MiB)
    resp = await app_client.post("/webhooks/qbo", content=body, headers={"Content-Length": str(8 * MiB)})
    assert_error(resp, 413, "payload_too_large")
    assert body.sent == 0, "the app read the body although its Content-Length was over the cap"


async def test_real_server_answers_413_without_waiting_for_the_body(api_settings, task_queue) -> None:
    """Over a socket to uvicorn: headers announce 100 MiB and no body byte is sent; the answer comes
    anyway (a server that waited for the body would never answer)."""
    async with served_app(api_settings, task_queue) as base:
        port = httpx.URL(base).port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"POST /partners HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 104857600\r\n\r\n")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413 "), head
        finally:
            writer.close()
