"""The asyncpg pool every process shares.

`numeric` comes back as `Decimal` (asyncpg's default) and `jsonb` is decoded to Python objects, so money
never passes through float on its way in or out of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from decimal import Decimal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: One connection: borrowed from the pool (`async with pool.acquire() as conn`) or opened alone.
Conn = asyncpg.Connection | PoolConnectionProxy
#: Anything a statement runs on: the pool (one statement, any connection) or a connection (a transaction).
Db = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy

log = logging.getLogger(__name__)


def one(row: asyncpg.Record | None) -> asyncpg.Record:
    """The row of a statement that always answers one (a count, an `INSERT … RETURNING`), typed so."""
    if row is None:
        raise LookupError("the statement answered no row")
    return row


# What a PostgreSQL that is starting, restarting or not yet listening answers; anything else is raised at once.
_NOT_READY = (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)


def _decode_json(text: str) -> object:
    """Non-integer numbers come back as Decimal, never float (a staged QBO payload holds amounts)."""
    return json.loads(text, parse_float=Decimal)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=_decode_json, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=_decode_json, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection returned to the pool needs beyond asyncpg's own rollback of an open transaction:
    nothing. asyncpg's default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release, one more round trip for every pooled statement (an idle sync cycle made 11 of them),
    to undo session state this code never leaves behind: no SET, LISTEN or cursor outside a transaction; the
    one session-level advisory lock (`posting_repo.partner_lock`) is unlocked in a `finally`, and its
    connection is closed instead of returned when that could not happen."""


async def create_pool(database_url: str | None, *, min_size: int = 1, max_size: int = 10,
                      wait_seconds: float = 0) -> asyncpg.Pool:
    """The pool; with `wait_seconds`, a PostgreSQL that is (re)starting is waited for that long instead of
    failing the process at startup (a worker or API restarted while the database restarts)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await asyncpg.create_pool(
                database_url, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60,
                reset=_keep_session,
            )
        except _NOT_READY as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("PostgreSQL is not ready (%s); retrying", type(exc).__name__)
            await asyncio.sleep(0.5)
