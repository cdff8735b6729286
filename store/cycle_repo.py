"""The bookkeeping of one sync cycle (`SyncActivities.fetch_changes`) in two statements: everything the
cycle reads from PostgreSQL, in one, before asking QBO; and, after it, the new CDC cursor with the sync run
(finished at once when the cycle found nothing to do) in another. A cycle that applied changes reads the
pending counts once more (`pending_counts`): never an idle one.

Why: an idle cycle is what 2,000 partners do every minute. It made fifteen statements (eleven of them on
connections of their own, each followed by the pool's reset query), about as much of the worker's CPU as
the SDK's workflow tasks and the QBO call together; now it makes these two and the token read
(qbo/tokens.py). The counts and flags are the same ones the separate statements read (`sync_repo`,
`attention_repo`, `reconcile_repo`, `activities.currency`); `tests/sync/test_cycle_statements.py` checks
both the statement count and that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from store import attention_repo
from store.db import Db
from store.sync_repo import Connection, live_currencies

_PENDING_PAYMENTS = (
    "(SELECT count(*) FROM payments WHERE partner_id = $1 AND status = 'pending')"
    " + (SELECT count(*) FROM refunds WHERE partner_id = $1 AND status = 'pending')")
_PENDING_PAYOUTS = "(SELECT count(*) FROM payouts WHERE partner_id = $1 AND status = 'pending')"
# What the cycle will post: the pending ones, and parked ones whose cause may have cleared ($2 = the codes
# that clear by themselves). Read by `cycle_facts` before QBO is asked and by `pending_counts` after an apply.
_TO_POST = (f"{_PENDING_PAYMENTS} + (SELECT count(*) {attention_repo._CLEARED_PAYMENTS}) AS payments,"
            f" {_PENDING_PAYOUTS} + (SELECT count(*) {attention_repo._CLEARED_PAYOUTS}) AS payouts")

# The CTE first withdraws the partner's outstanding webhook signal (store/sync_requests.py): committed before
# QBO is asked, so an event stored from now on signals again. Part of this statement, not one more.
_CYCLE_FACTS = f"""
WITH signal_taken AS (DELETE FROM sync_requests WHERE partner_id = $1)
SELECT c.realm_id, c.cdc_cursor, c.last_full_sweep_at, c.home_currency, c.multicurrency_enabled,
    c.currency_prefs_read_at,
    EXISTS (SELECT 1 FROM webhook_events w WHERE w.realm_id = c.realm_id AND w.entity = 'Preferences'
            AND (c.currency_prefs_read_at IS NULL OR w.received_at >= c.currency_prefs_read_at)) AS preferences_event,
    {_TO_POST},
    EXISTS (SELECT 1 FROM reconciliation_runs WHERE partner_id = $1 AND status <> 'finished') AS reconcile,
    (SELECT count(*) FROM qbo_staging WHERE partner_id = $1) AS staged_waiting,
    ARRAY({live_currencies("$1", "c.realm_id")}) AS currencies
FROM qbo_connections c WHERE c.partner_id = $1
"""  # noqa: S608 (constants only)


@dataclass(frozen=True)
class CycleFacts:
    """What a cycle knows from PostgreSQL before it asks QBO anything."""

    connection: Connection
    preferences_event: bool  # a `Preferences` webhook arrived since they were last read
    pending_payments: int  # pending payments and refunds, and parked payments whose cause may have cleared
    pending_payouts: int
    reconcile_requested: bool  # a reconciliation run waits
    invoice_currencies: tuple[str, ...]
    staged_waiting: int  # versions staged by an earlier attempt and not applied yet


async def cycle_facts(db: Db, partner_id: str) -> CycleFacts:
    row = await db.fetchrow(_CYCLE_FACTS, partner_id, attention_repo._AUTO)
    if row is None:
        raise LookupError(f"partner {partner_id} has no QBO connection")
    connection = Connection(row["realm_id"], row["cdc_cursor"], row["last_full_sweep_at"],
                            row["home_currency"].strip() if row["home_currency"] else None,
                            bool(row["multicurrency_enabled"]), row["currency_prefs_read_at"])
    return CycleFacts(connection, bool(row["preferences_event"]), int(row["payments"]), int(row["payouts"]),
                      bool(row["reconcile"]), tuple(c.strip() for c in row["currencies"]),
                      int(row["staged_waiting"]))


async def pending_counts(db: Db, partner_id: str) -> tuple[int, int]:
    """(payments, payouts) to post, counted as `cycle_facts` counts them: read again after the cycle applied
    QBO's changes, since a change may clear a parked payment's cause (its customer reactivated, its
    invoice's balance back) and the count read before the apply would post it only one cycle later."""
    row = await db.fetchrow(f"SELECT {_TO_POST}", partner_id, attention_repo._AUTO)
    if row is None:  # a SELECT without FROM always answers one row
        raise LookupError("no counts")
    return int(row["payments"]), int(row["payouts"])


async def record_fetch(db: Db, partner_id: str, trigger: str, took: timedelta, *, cursor: datetime | None,
                       swept: bool = False, idle: bool = False, error: str | None = None) -> int:
    """One statement after the fetch: the CDC cursor moves (when the fetch gave one) and the cycle's sync run
    is recorded, started `took` ago (by the database's clock, as a run started by an INSERT at the time
    would be): still running when there is work for the next steps (`finish_run` closes it), finished at
    once when the cycle was idle (with `last_synced_at`), failed with `error`. Returns the run's id."""
    status = "failed" if error is not None else "succeeded" if idle else "running"
    run_id = await db.fetchval(
        "WITH moved AS (UPDATE qbo_connections SET"
        " cdc_cursor = COALESCE($4::timestamptz, cdc_cursor),"
        " last_full_sweep_at = CASE WHEN $4::timestamptz IS NOT NULL AND $5::bool THEN now() ELSE last_full_sweep_at END,"
        " last_synced_at = CASE WHEN $6::text = 'succeeded' THEN now() ELSE last_synced_at END,"
        " updated_at = now() WHERE partner_id = $1 AND ($4::timestamptz IS NOT NULL OR $6::text = 'succeeded'))"
        " INSERT INTO sync_runs (partner_id, trigger, started_at, finished_at, status, counts, errors, error)"
        " VALUES ($1, $2, now() - $3::interval, CASE WHEN $6 = 'running' THEN NULL ELSE now() END, $6,"
        " CASE WHEN $6 = 'succeeded' THEN '{\"staged\": 0}'::jsonb ELSE '{}'::jsonb END,"
        " CASE WHEN $7::text IS NULL THEN 0 ELSE 1 END, $7) RETURNING id",
        partner_id, trigger, took, cursor, swept, status, error)
    return int(run_id)
