"""Found by the chaos soak: a worker restarted while PostgreSQL restarted exited at startup
("the database system is shutting down"). The worker and the API now wait for PostgreSQL, with a deadline.

A TCP relay in front of the session's PostgreSQL stands in for a database that isn't listening yet: it
starts listening only after the pool has failed to connect at least once."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import pytest

from store.db import create_pool
from store.embedded import free_port
from tests.helpers import eventually


async def _relay(target_host: str, target_port: int, port: int) -> asyncio.Server:
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def test_pool_waits_for_a_postgres_that_is_not_listening_yet(database_url, caplog) -> None:
    real = urlsplit(database_url)
    port = free_port()
    url = database_url.replace(f"{real.hostname}:{real.port}", f"127.0.0.1:{port}")
    caplog.set_level(logging.WARNING, logger="store.db")

    pending = asyncio.create_task(create_pool(url, max_size=2, wait_seconds=60))
    await eventually(lambda: asyncio.sleep(0, "not ready" in caplog.text), timeout=30,
                     what="a failed first connection attempt")
    assert not pending.done()
    server = await _relay(real.hostname or "127.0.0.1", real.port or 5432, port)
    try:
        pool = await asyncio.wait_for(pending, 60)
        try:
            assert await pool.fetchval("SELECT 1") == 1
        finally:
            await pool.close()
    finally:
        server.close()


async def test_without_waiting_a_missing_postgres_fails_at_once(database_url) -> None:
    real = urlsplit(database_url)
    url = database_url.replace(f"{real.hostname}:{real.port}", f"127.0.0.1:{free_port()}")
    with pytest.raises(OSError):
        await create_pool(url, max_size=1)
