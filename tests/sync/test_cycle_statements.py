"""What an idle sync cycle costs PostgreSQL: three statements, no pool reset.

An idle cycle is what every partner does every interval (README "Fleet size per worker"), so its round
trips are counted here on one logged connection: the cycle's facts, the token, the cursor and the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import ActivityEnvironment

from activities.sync import SyncActivities
from qbo.client import QboApi
from store import cycle_repo
from store.db import create_pool
from tests.sync.conftest import Synced
from workflows.models import SyncRunStart


@pytest.fixture
async def logged(database_url: str, settings) -> AsyncIterator[tuple[SyncActivities, list[str]]]:
    """Sync activities on a pool of one connection whose every round trip is logged."""
    pool = await create_pool(database_url, max_size=1)
    statements: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda q: statements.append(q.query))
    api = QboApi(settings, pool)
    yield SyncActivities(pool, api), statements
    await api.aclose()
    await pool.close()


async def _idle_fetch(synced: Synced, acts: SyncActivities, env: ActivityEnvironment | None = None):
    return await (env or ActivityEnvironment()).run(
        acts.fetch_changes, SyncRunStart(partner_id=synced.partner_id, trigger="interval", full_sweep=False))


async def test_an_idle_cycle_makes_three_statements(synced: Synced, logged) -> None:
    acts, statements = logged
    await synced.cycle()  # the first cycle after the backfill may see the seed's accounts
    await _idle_fetch(synced, acts)  # a new connection's first statements also read types and prepare
    statements.clear()
    fetch = await _idle_fetch(synced, acts)
    assert (fetch.staged, fetch.pending_payments, fetch.pending_payouts) == (0, 0, 0)
    # The cycle's facts, the access token (qbo/tokens.py), the cursor with the finished run: no reset query
    # after each (store/db.py), no transaction of its own. (The seed's accounts are younger than CDC's
    # 5-minute overlap, so this CDC answer holds them and their upsert runs too; a week-old company's not.)
    mine = [q for q in statements if not q.startswith("INSERT INTO qbo_accounts")]
    assert len(mine) == 3, statements
    assert "FROM qbo_connections c" in mine[0] and "access_token_enc" in mine[1] and "sync_runs" in mine[2]
    run = await synced.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", fetch.sync_run_id)
    assert (run["status"], run["counts"], run["trigger"]) == ("succeeded", {"staged": 0}, "interval")
    assert run["started_at"] <= run["finished_at"]
    connection = await synced.pool.fetchrow("SELECT cdc_cursor, last_synced_at FROM qbo_connections"
                                            " WHERE partner_id = $1", synced.partner_id)
    assert connection["cdc_cursor"] == fetch.cursor and connection["last_synced_at"] >= run["finished_at"]


async def test_a_cycle_stages_its_cdc_answer_in_one_statement_per_entity(synced: Synced, logged) -> None:
    """The cycle after a change re-reads it (CDC's 5-minute overlap, qbo-reference §4) and stages nothing new;
    the answer costs one statement per entity, not a temporary table, its COPY and a filtered insert in a
    transaction each (sync_repo.STAGE_BY_PARAMETERS, issue 15 §4)."""
    acts, statements = logged
    await synced.cycle()
    await _idle_fetch(synced, acts)  # a new connection's first statements also read types and prepare
    synced.books.invoice("1", "5.00")
    fetch, summary = await synced.cycle()
    assert (fetch.staged, summary.created) == (1, 1)
    await _idle_fetch(synced, acts)  # the first arrays on this connection: asyncpg reads their types once
    statements.clear()
    fetch = await _idle_fetch(synced, acts)
    assert (fetch.staged, fetch.pending_payments, fetch.pending_payouts) == (0, 0, 0)
    mine = [q for q in statements if not q.startswith("INSERT INTO qbo_accounts")]
    assert not [q for q in mine if "qbo_staging_in" in q], mine
    # The idle cycle's three, and one insert for each entity re-read: the invoice, and its customer (the
    # invoice changed its balance).
    assert len(mine) == 5 and sum(q.startswith("INSERT INTO qbo_staging ") for q in mine) == 2, mine


async def test_a_cycle_with_work_leaves_its_run_running(synced: Synced, logged) -> None:
    acts, _ = logged
    await synced.cycle()
    synced.books.customer("Busy Buyer")
    fetch = await _idle_fetch(synced, acts)
    assert fetch.staged == 1
    run = await synced.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", fetch.sync_run_id)
    assert (run["status"], run["finished_at"]) == ("running", None)


async def test_cycle_facts_agree_with_what_they_replace(synced: Synced) -> None:
    """The one statement reads what the separate reads did: the connection, a Preferences webhook since
    the last read, the invoices' currencies (activities.currency)."""
    from activities.currency import currency_facts
    from store import sync_repo

    facts = await cycle_repo.cycle_facts(synced.pool, synced.partner_id)
    assert facts.connection == await sync_repo.load_connection(synced.pool, synced.partner_id)
    current = await currency_facts(synced.pool, synced.partner_id)
    assert current is not None and facts.invoice_currencies == current.invoice_currencies == ("USD",)
    assert not facts.preferences_event and not facts.reconcile_requested
    await synced.pool.execute(
        "INSERT INTO webhook_events (event_id, realm_id, entity, entity_id, operation, received_at)"
        " VALUES ($1, $2, 'Preferences', '1', 'Update', now() + interval '1 second')",
        f"test-{synced.partner_id}", synced.realm_id)
    assert (await cycle_repo.cycle_facts(synced.pool, synced.partner_id)).preferences_event


async def test_the_invoice_currencies_are_the_live_invoices_of_this_company(synced: Synced) -> None:
    """Read by a loose index scan (sync_repo.live_currencies): every live currency once, in order; a void
    or archived invoice's and another company's are not the partner's payment currencies."""
    from activities.currency import currency_facts

    rows = [("platform", None, None, "EUR", "open", False), ("platform", None, None, "EUR", "paid", False),
            ("qbo", synced.realm_id, "q-gbp", "GBP", "void", False),
            ("qbo", synced.realm_id, "q-cad", "CAD", "open", True),
            ("qbo", "another-realm", "q-jpy", "JPY", "open", False)]
    for n, (source, realm, qbo_id, currency, status, archived) in enumerate(rows):
        await synced.pool.execute(
            "INSERT INTO invoices (id, partner_id, source, realm_id, qbo_id, amount, balance, currency, status,"
            " archived) VALUES ($1, $2, $3, $4, $5, 10, 10, $6, $7, $8)",
            f"inv-cur-{n}-{synced.partner_id}", synced.partner_id, source, realm, qbo_id, currency, status, archived)
    facts = await cycle_repo.cycle_facts(synced.pool, synced.partner_id)
    current = await currency_facts(synced.pool, synced.partner_id)
    assert current is not None and facts.invoice_currencies == current.invoice_currencies == ("EUR", "USD")


async def test_a_webhook_cycle_applies_only_the_entities_it_staged(synced: Synced, logged) -> None:
    """Two invoices changed in QBO: apply opens one transaction, for invoices alone (not one per entity, empty
    for customers, payments and deposits, nor one more to find no invoice left), and writes no empty
    conflict log."""
    acts, statements = logged
    await synced.cycle()
    await _idle_fetch(synced, acts)
    statements.clear()
    for n, invoice in enumerate(synced.books.query("SELECT * FROM Invoice")["Invoice"][:2]):
        synced.books.update("Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True,
                                        "DocNumber": f"HOOK-{n}"})
    fetch = await ActivityEnvironment().run(acts.fetch_changes, SyncRunStart(
        partner_id=synced.partner_id, trigger="sync_now", full_sweep=False, apply_small_changes=True))
    assert fetch.applied is not None and (fetch.staged, fetch.applied.updated) == (2, 2)
    batches = [q for q in statements if q.startswith("SELECT realm_id, qbo_id FROM (SELECT DISTINCT")]
    assert len(batches) == 1, statements  # the invoices' batch; fewer than a batch holds: no look for more
    assert not any(q.startswith("INSERT INTO sync_log") for q in statements), statements
    docs = {r["doc_number"] for r in await synced.pool.fetch("SELECT doc_number FROM invoices WHERE partner_id = $1",
                                                             synced.partner_id)}
    assert {"HOOK-0", "HOOK-1"} <= docs
