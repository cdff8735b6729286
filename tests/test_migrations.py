"""Migrations apply in order, once, and are recorded."""

import uuid

import asyncpg

from store.migrate import apply_migrations, migration_files


async def test_all_migrations_recorded_in_order(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == [p.name for p in migration_files()]
    finally:
        await conn.close()


async def test_reapplying_is_a_no_op(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        assert await apply_migrations(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(migration_files())
    finally:
        await conn.close()


async def test_fresh_database_gets_every_table(postgres_server, database_url):
    """A second, empty database is migrated from scratch by the same runner."""
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    name = f"qbo_fresh_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    conn = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/" + name)
    try:
        applied = await apply_migrations(conn)
        assert applied == [p.name for p in migration_files()]
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        assert {"partners", "qbo_connections", "customers", "invoices", "payments", "payouts", "sync_runs",
                "sync_log", "qbo_staging", "webhook_events"} <= tables
    finally:
        await conn.close()


async def test_duplicate_qbo_identity_is_impossible(db_pool):
    pid = f"p_{uuid.uuid4().hex[:8]}"
    async with db_pool.acquire() as conn:
        await conn.execute("INSERT INTO partners (id, name) VALUES ($1, 'x')", pid)
        insert = ("INSERT INTO customers (id, partner_id, source, realm_id, qbo_id, name) "
                  "VALUES ($1, $2, 'qbo', '123', '7', 'Amy')")
        await conn.execute(insert, f"c_{uuid.uuid4().hex}", pid)
        try:
            await conn.execute(insert, f"c_{uuid.uuid4().hex}", pid)
        except asyncpg.UniqueViolationError:
            pass
        else:
            raise AssertionError("a second row for the same (partner, realm, QBO Id) was accepted")


async def test_jsonb_amounts_come_back_as_decimal(db_pool):
    from decimal import Decimal

    value = await db_pool.fetchval("""SELECT '{"TotalAmt": 99999999999999.99, "n": 3}'::jsonb""")
    assert value == {"TotalAmt": Decimal("99999999999999.99"), "n": 3}
    assert isinstance(value["TotalAmt"], Decimal) and isinstance(value["n"], int)
