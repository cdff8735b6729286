"""Ordered SQL migrations applied idempotently at start, each recorded in `schema_migrations`.

Files are `store/migrations/NNNN_name.sql`, applied in name order, each in its own transaction, under an
advisory lock so that a worker and the API starting together never apply one twice.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x5142_4F4D  # "QBOM": any constant shared by every process of this service


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("*.sql"))


async def apply_migrations(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in migration_files():
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            applied_now.append(path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def migrate(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


def main() -> None:
    """`python -m store.migrate`: apply migrations to DATABASE_URL (the compose stack's setup step)."""
    import asyncio
    import os

    applied = asyncio.run(migrate(os.environ["DATABASE_URL"]))
    print("applied:", ", ".join(applied) or "nothing (up to date)")


if __name__ == "__main__":
    main()
