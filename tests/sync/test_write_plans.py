"""A page's write reads the referenced table once per row, whatever plan PostgreSQL picks.

An invoice row's `customer_id` is looked up from its QBO customer id. As a join, the plan depended on the
customers table's statistics: a generic plan made while they were stale (asyncpg prepares every statement
and PostgreSQL switches to a generic plan after five runs) scanned all of the partner's customers for each
invoice, 1-4 s of PostgreSQL CPU per 1,000-row backfill page (README Performance), and a good hash-join
plan still read every customer of the partner for every page. Counted here through the transaction's own
table statistics, so other tests on the same database don't disturb it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

from rules import entities
from store import sync_repo

CUSTOMERS = 600
PAGE = 100
PAGES = 7  # past the five custom plans after which PostgreSQL may keep a generic one


def _customer(qbo_id: str) -> SimpleNamespace:
    return SimpleNamespace(qbo_id=qbo_id, qbo_sync_token=0, qbo_updated_at=datetime.now(UTC), name=f"C{qbo_id}",
                           email=None, archived=False, qbo_active=True, qbo_deleted=False)


def _invoice(qbo_id: str, customer: str) -> SimpleNamespace:
    ten = Decimal("10.00")
    return SimpleNamespace(qbo_id=qbo_id, qbo_sync_token=0, qbo_updated_at=datetime.now(UTC), qbo_customer_id=customer,
                           doc_number=qbo_id, amount=ten, balance=ten, currency="USD", due_date=None, status="open",
                           archived=False, qbo_deleted=False, exchange_rate=None, qbo_balance=ten, qbo_total=ten)


async def _customer_rows_read(conn) -> int:  # noqa: ANN001
    row = await conn.fetchrow("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n "
                              "FROM pg_stat_xact_user_tables WHERE relname = 'customers'")
    return int(row["n"])


async def _stale_statistics(conn, customer: entities.SyncedEntity) -> None:  # noqa: ANN001
    """Statistics taken when the table held one customer (as autovacuum may have left them in the suite's
    database): the planner then believes a scan of the whole table is cheaper than an index lookup. In a
    full `make test` the join's page read all 601 customers for each invoice (60,100 rows per page)."""
    other = f"p_small_{uuid.uuid4().hex[:8]}"
    await conn.execute("INSERT INTO partners (id, name) VALUES ($1, 'Small')", other)
    await sync_repo.insert_new(conn, customer, other, "realm-small", [_customer("1")])
    await conn.execute("ANALYZE customers")


async def test_each_invoice_reads_its_customer_once_in_every_plan(db_pool) -> None:
    pid, realm = f"p_plan_{uuid.uuid4().hex[:8]}", "realm-plans"
    await db_pool.execute("INSERT INTO partners (id, name) VALUES ($1, 'Plans')", pid)
    customer, invoice = entities.BY_NAME["Customer"], entities.BY_NAME["Invoice"]
    async with db_pool.acquire() as conn:
        await _stale_statistics(conn, customer)
        inserted = await sync_repo.insert_new(conn, customer, pid, realm, [_customer(str(i)) for i in range(CUSTOMERS)])
        assert len(inserted) == CUSTOMERS
        for page in range(PAGES):  # one connection: the same prepared statement, page after page
            states = [_invoice(str(page * PAGE + i), str((page * PAGE + i) % CUSTOMERS)) for i in range(PAGE)]
            async with conn.transaction():
                before = await _customer_rows_read(conn)
                assert len(await sync_repo.insert_new(conn, invoice, pid, realm, states)) == PAGE
                read = await _customer_rows_read(conn) - before
            # One index lookup for the reference and one for the foreign-key check per invoice.
            assert read <= 2 * PAGE, f"page {page}: {read} customer rows read for {PAGE} invoices"
    linked = await db_pool.fetchval("SELECT count(*) FROM invoices WHERE partner_id = $1 AND customer_id IS NOT NULL",
                                    pid)
    assert linked == PAGE * PAGES
