"""SQL for the QBO → platform sync activities (activities/sync.py): staging, backfill progress, sync runs,
snapshots and set-based upserts. asyncpg; money stays Decimal (numeric ↔ Decimal), payloads are written and
read as JSON text so amounts never pass through float (store.db decodes jsonb with plain json.loads).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from rules import entities
from store import own_postings_repo
from store.db import Conn, Db

#: A tombstone has no SyncToken and is final: it sorts after every real version of the object.
TOMBSTONE_TOKEN = 2**62


@lru_cache(maxsize=16_384)
def platform_id(prefix: str, partner_id: str, realm_id: str, qbo_id: str) -> str:
    """Deterministic id from the QBO identity, so a retried apply can never create two rows. Cached: a
    backfill's invoices name the same customers again and again (~10 invoices a customer in the bench)."""
    digest = hashlib.sha256(f"{partner_id}|{realm_id}|{qbo_id}".encode()).hexdigest()
    return f"{prefix}_{digest[:20]}"


@dataclass(frozen=True)
class StagedObject:
    qbo_id: str
    sync_token: int
    last_updated: datetime | None
    deleted: bool
    payload: str  # JSON text


@dataclass(frozen=True)
class Connection:
    realm_id: str
    cdc_cursor: datetime | None
    last_full_sweep_at: datetime | None
    home_currency: str | None = None  # Preferences.CurrencyPrefs as last read (None: never read)
    multicurrency: bool = False
    currency_prefs_read_at: datetime | None = None


# --- connection, runs ---------------------------------------------------------------------------------

async def load_connection(db: Db, partner_id: str) -> Connection:
    row = await db.fetchrow(
        "SELECT realm_id, cdc_cursor, last_full_sweep_at, home_currency, multicurrency_enabled, "
        "currency_prefs_read_at FROM qbo_connections WHERE partner_id = $1", partner_id
    )
    if row is None:
        raise LookupError(f"partner {partner_id} has no QBO connection")
    return Connection(row["realm_id"], row["cdc_cursor"], row["last_full_sweep_at"],
                      row["home_currency"].strip() if row["home_currency"] else None,
                      bool(row["multicurrency_enabled"]), row["currency_prefs_read_at"])


# --- currency (issue 13, docs/currency.md) ------------------------------------------------------------

async def save_currency_prefs(db: Any, partner_id: str, home_currency: str, multicurrency: bool) -> None:
    await db.execute(
        "UPDATE qbo_connections SET home_currency = $2, multicurrency_enabled = $3, currency_prefs_read_at = now(),"
        " updated_at = now() WHERE partner_id = $1", partner_id, home_currency, multicurrency)


def live_currencies(partner: str, realm: str) -> str:
    """SQL answering the currencies of the partner's live invoices (QBO's and platform-created), in order:
    those its payments are in. A loose index scan over `invoices_live_currency` (migration 0018): the next
    currency after the last one found, one index probe each, instead of reading every invoice (a cycle
    runs it every interval). `partner`, `realm`: SQL expressions (a parameter, an outer column)."""
    live = (f"FROM invoices i WHERE i.partner_id = {partner} AND NOT i.archived AND i.status <> 'void'"
            f" AND (i.realm_id = {realm} OR i.realm_id IS NULL)")
    return (f"WITH RECURSIVE cur(c) AS (SELECT min(i.currency) {live} UNION ALL"  # noqa: S608 (no values)
            f" SELECT (SELECT min(i.currency) {live} AND i.currency > cur.c) FROM cur WHERE cur.c IS NOT NULL)"
            " SELECT c FROM cur WHERE c IS NOT NULL")


async def invoice_currencies(db: Any, partner_id: str, realm_id: str) -> list[str]:
    """The currencies of the partner's live invoices (QBO's and platform-created): those its payments are in."""
    rows = await db.fetch(live_currencies("$1", "$2"), partner_id, realm_id)
    return [r["c"].strip() for r in rows]


async def init_cursor(db: Db, partner_id: str) -> None:
    """The first backfill call: CDC later starts from when the backfill started."""
    await db.execute(
        "UPDATE qbo_connections SET cdc_cursor = now(), updated_at = now() "
        "WHERE partner_id = $1 AND cdc_cursor IS NULL", partner_id,
    )


async def finish_run(
    db: asyncpg.Pool, partner_id: str, run_id: int, counts: dict[str, int], error: str | None
) -> str | None:
    """Close the run. Returns its trigger when this call finished it (not when a retried activity finishes
    it again), so the caller counts each cycle once (`qbo_sync_cycles_total`)."""
    async with db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "WITH old AS (SELECT finished_at FROM sync_runs WHERE id = $2 AND partner_id = $1 FOR UPDATE) "
            "UPDATE sync_runs SET finished_at = now(), status = $3, counts = $4, error = $5, "
            "errors = CASE WHEN $5::text IS NULL THEN 0 ELSE 1 END, "
            "conflicts = (SELECT count(*) FROM sync_log WHERE sync_run_id = $2 AND kind = 'conflict') "
            "FROM old WHERE id = $2 AND partner_id = $1 "
            "RETURNING sync_runs.trigger, old.finished_at IS NULL AS first",
            partner_id, run_id, "failed" if error else "succeeded", counts, error,
        )
        if error is None:
            await conn.execute(
                "UPDATE qbo_connections SET last_synced_at = now(), updated_at = now() WHERE partner_id = $1",
                partner_id,
            )
    return row["trigger"] if row is not None and row["first"] else None


# --- staging --------------------------------------------------------------------------------------------

# A large batch (a backfill or sweep page) arrives by binary COPY into a per-connection temporary table (one
# round trip, no statement size limit), then one INSERT … SELECT moves it into `qbo_staging` with the filters
# below. COPY itself can't skip rows or ignore conflicts, hence the temporary table. A small batch (a sync
# cycle's CDC answer, a page's few left-overs) is one INSERT … SELECT FROM unnest(arrays) instead: the
# temporary table's fixed cost (its DDL, COPY's own column lookup, the delete, the transaction) is most of
# the work for a few dozen rows. Measured (issue 15 §4; CPU per call, real PostgreSQL, shared machine): 60
# versions of which 5 new, worker 3.3–4.2 ms → 1.0–1.3 ms, PostgreSQL backend 4.2–5.3 ms → 1.1–1.6 ms; even
# at 100 rows both ways cost about the same, and at 1,000 COPY is cheaper for the worker (7–8 ms against
# 12.5–14.6 ms), so it stays for pages.
STAGE_BY_PARAMETERS = 100
_STAGE_IN = "qbo_staging_in"
_STAGE_IN_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE_IN} (qbo_id text, tok bigint, lu timestamptz, deleted bool, "
    "payload text) ON COMMIT DELETE ROWS"  # text: the pool's jsonb codec would encode a str as a JSON string
)
_STAGE_IN_COLUMNS = ("qbo_id", "tok", "lu", "deleted", "payload")
_STAGE_PARAMETERS = ("unnest($4::text[], $5::bigint[], $6::timestamptz[], $7::bool[], $8::text[]) "
                     "AS u(qbo_id, tok, lu, deleted, payload)")


def _stage_sql(entity: str, source: str) -> str:
    """Insert staged versions from `source` (the temporary table or the arrays), skipping versions the
    platform already holds (so an overlap re-read or a sweep of unchanged rows stages nothing) and duplicates
    (ON CONFLICT on the staging key)."""
    spec = entities.BY_NAME.get(entity)
    skip = ""
    if entity in ("Payment", "Deposit"):
        skip = own_postings_repo.stage_filter(entity)
    elif spec is not None:
        skip = (
            f"WHERE NOT EXISTS (SELECT 1 FROM {spec.table} p WHERE p.partner_id = $1 AND p.realm_id = $2 "
            "AND p.qbo_id = u.qbo_id AND (p.qbo_deleted OR (NOT u.deleted AND p.qbo_sync_token >= u.tok)))"
        )
    return (
        "INSERT INTO qbo_staging (partner_id, realm_id, entity, qbo_id, sync_token, last_updated, deleted, payload) "
        f"SELECT $1, $2, $3, u.qbo_id, u.tok, u.lu, u.deleted, u.payload::jsonb FROM {source} "
        f"{skip} ON CONFLICT DO NOTHING"
    )


async def stage(db: Db, partner_id: str, realm_id: str, entity: str, objects: Sequence[StagedObject]) -> int:
    """Stage one page/chunk (in the caller's transaction when `db` is a connection in one); returns how
    many versions were new. Up to `STAGE_BY_PARAMETERS` objects in one statement, more by COPY."""
    if not objects:
        return 0
    if len(objects) <= STAGE_BY_PARAMETERS:
        status = await db.execute(
            _stage_sql(entity, _STAGE_PARAMETERS), partner_id, realm_id, entity, [o.qbo_id for o in objects],
            [o.sync_token for o in objects], [o.last_updated for o in objects], [o.deleted for o in objects],
            [o.payload for o in objects],
        )
        return int(status.rsplit(" ", 1)[-1])
    async with _connection(db) as conn, conn.transaction():
        await conn.execute(_STAGE_IN_DDL)
        await conn.copy_records_to_table(
            _STAGE_IN, columns=_STAGE_IN_COLUMNS,
            records=[(o.qbo_id, o.sync_token, o.last_updated, o.deleted, o.payload) for o in objects],
        )
        status = await conn.execute(_stage_sql(entity, f"{_STAGE_IN} u"), partner_id, realm_id, entity)
        await conn.execute(f"DELETE FROM {_STAGE_IN}")  # a second stage() in the same transaction starts empty
    return int(status.rsplit(" ", 1)[-1])


@asynccontextmanager
async def _connection(db: Db) -> AsyncIterator[Conn]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


async def platform_qbo_ids(db: Db, partner_id: str, realm_id: str, entity: str) -> list[str]:
    """QBO ids of live (not deleted) QBO-sourced rows, for the sweep's missing-id check."""
    table = entities.BY_NAME[entity].table
    rows = await db.fetch(
        f"SELECT qbo_id FROM {table} WHERE partner_id = $1 AND realm_id = $2 AND qbo_id IS NOT NULL "
        "AND NOT qbo_deleted", partner_id, realm_id,
    )
    return [r["qbo_id"] for r in rows]


async def upsert_accounts(db: Db, partner_id: str, accounts: Sequence[Any], currencies: dict[str, str | None]) -> int:
    """Refresh `qbo_accounts` rows; returns how many were new or different."""
    if not accounts:
        return 0
    status = await db.execute(
        "INSERT INTO qbo_accounts (partner_id, qbo_id, name, account_type, account_subtype, active, currency) "
        "SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[]) "
        "ON CONFLICT (partner_id, qbo_id) DO UPDATE SET name = EXCLUDED.name, "
        "account_type = EXCLUDED.account_type, account_subtype = EXCLUDED.account_subtype, "
        "active = EXCLUDED.active, currency = EXCLUDED.currency "
        "WHERE (qbo_accounts.name, qbo_accounts.account_type, qbo_accounts.account_subtype, qbo_accounts.active, "
        "qbo_accounts.currency) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.account_type, "
        "EXCLUDED.account_subtype, EXCLUDED.active, EXCLUDED.currency)",
        partner_id, [a.qbo_id for a in accounts], [a.name for a in accounts], [a.account_type for a in accounts],
        [a.account_subtype for a in accounts], [a.active for a in accounts],
        [currencies.get(a.qbo_id) for a in accounts],
    )
    return int(status.rsplit(" ", 1)[-1])


# --- backfill progress ----------------------------------------------------------------------------------

async def load_progress(db: Db, partner_id: str, entity: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT next_position, fetched, total, done FROM backfill_progress WHERE partner_id = $1 AND entity = $2",
        partner_id, entity,
    )


async def create_progress(db: Db, partner_id: str, entity: str, total: int) -> None:
    await db.execute(
        "INSERT INTO backfill_progress (partner_id, entity, total) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        partner_id, entity, total,
    )


async def save_progress(
    conn: Conn, partner_id: str, entity: str, *, expected: int, next_position: int, fetched: int, done: bool
) -> None:
    """Advance the position only from where this page started (a concurrent duplicate cannot double-count)."""
    status = await conn.execute(
        "UPDATE backfill_progress SET next_position = $3, fetched = fetched + $4, done = $5 "
        "WHERE partner_id = $1 AND entity = $2 AND next_position = $6",
        partner_id, entity, next_position, fetched, done, expected,
    )
    if status.endswith(" 0"):
        raise RuntimeError(f"backfill of {entity} for {partner_id} moved concurrently; retry")


# --- apply ----------------------------------------------------------------------------------------------

async def next_staged_batch(conn: Conn, partner_id: str, entity: str, limit: int,
                            after: tuple[str, str] | None = None) -> list[asyncpg.Record]:
    """Every staged version of the next `limit` objects of `entity` after `after` (keyset order), locked
    until the transaction ends. Seeking past the last applied key matters: applied rows are deleted, and an
    index scan from the start would wade through their dead entries again on every batch (quadratic)."""
    realm, qbo_id = after or ("", "")
    # Two plain range scans on `qbo_staging_apply_order`: first the batch's last key, then the rows up to
    # it. (One query with `IN (SELECT DISTINCT … LIMIT)` let the planner, misled by a freshly filled
    # table's missing statistics, pick a nested loop that took seconds per batch.)
    upper = await conn.fetchrow(
        "SELECT realm_id, qbo_id FROM (SELECT DISTINCT realm_id, qbo_id FROM qbo_staging "
        "  WHERE partner_id = $1 AND entity = $2 AND (realm_id, qbo_id) > ($4, $5) "
        "  ORDER BY realm_id, qbo_id LIMIT $3) k ORDER BY realm_id DESC, qbo_id DESC LIMIT 1",
        partner_id, entity, limit, realm, qbo_id,
    )
    if upper is None:
        return []
    return await conn.fetch(
        "SELECT realm_id, qbo_id, sync_token, payload::text AS payload FROM qbo_staging "
        "WHERE partner_id = $1 AND entity = $2 AND (realm_id, qbo_id) > ($3, $4) AND (realm_id, qbo_id) <= ($5, $6) "
        "ORDER BY realm_id, qbo_id, sync_token FOR UPDATE",
        partner_id, entity, realm, qbo_id, upper["realm_id"], upper["qbo_id"],
    )


async def delete_staged(conn: Conn, partner_id: str, entity: str, keys: Sequence[tuple[str, str, int]]) -> None:
    """Delete exactly the applied versions, given in the order `next_staged_batch` returned them (the
    database's collation, which decides the range). The key range lets PostgreSQL walk
    `qbo_staging_apply_order` instead of joining the whole table (seconds per batch on a large, freshly
    filled staging table)."""
    if not keys:
        return
    low, high = keys[0], keys[-1]
    await conn.execute(
        "DELETE FROM qbo_staging WHERE partner_id = $1 AND entity = $2 "
        "AND (realm_id, qbo_id) >= ($6, $7) AND (realm_id, qbo_id) <= ($8, $9) "
        "AND (realm_id, qbo_id, sync_token) IN (SELECT * FROM unnest($3::text[], $4::text[], $5::bigint[]))",
        partner_id, entity, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
        low[0], low[1], high[0], high[1],
    )


async def staged_entities(db: Db, partner_id: str, candidates: Sequence[str]) -> set[str]:
    """Which of `candidates` have versions waiting, one index probe each: apply skips the others without a
    transaction of their own (a webhook's cycle stages one or two entities of four)."""
    rows = await db.fetch("SELECT e FROM unnest($2::text[]) AS e WHERE EXISTS "
                          "(SELECT 1 FROM qbo_staging s WHERE s.partner_id = $1 AND s.entity = e)",
                          partner_id, list(candidates))
    return {r["e"] for r in rows}


async def staged_count(db: Db, partner_id: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM qbo_staging WHERE partner_id = $1", partner_id))


def _snapshot_sql(spec: entities.SyncedEntity) -> str:
    columns = ", ".join(f"t.{c}" for c in spec.snapshot_columns)
    aggregates = "".join(f", {sql} AS {name}" for name, sql in spec.aggregates)
    return (f"SELECT {columns}{aggregates} FROM {spec.table} t {spec.aggregate_join} "
            "WHERE t.partner_id = $1 AND t.realm_id = $2 AND t.qbo_id = ANY($3::text[])"
            + (" GROUP BY t.id" if spec.aggregates else ""))


async def snapshots(conn: Conn, spec: entities.SyncedEntity, partner_id: str, realm_id: str,
                    qbo_ids: list[str]) -> list[asyncpg.Record]:
    """The platform rows of these QBO objects, as the rules read them (`spec.platform`).

    With `lock_snapshot` (invoices and their unposted payments) the rows are locked first, read after: a
    payment recorded concurrently (platform_repo.create_payment locks the same row) either committed before
    and is counted here, or waits until this apply committed and then lowers the balance it wrote. Read in
    the same statement as the lock, it could be missed and overwritten (store/balances.py)."""
    if spec.lock_snapshot:
        await conn.execute(
            f"SELECT 1 FROM {spec.table} WHERE partner_id = $1 AND realm_id = $2 AND qbo_id = ANY($3::text[]) "
            "ORDER BY id FOR UPDATE", partner_id, realm_id, qbo_ids)
    return await conn.fetch(_snapshot_sql(spec), partner_id, realm_id, qbo_ids)


def _write_sql(spec: entities.SyncedEntity, *, update: bool) -> str:
    """One statement per batch over `unnest`ed arrays (not one statement per row), built from the entity's
    declared columns. A batch holds each QBO object once (apply reduces versions first), so ON CONFLICT
    never meets a row twice. Without `update` (`insert_new`): only objects with neither a platform row nor
    a staged version are inserted, and their QBO ids returned."""
    names = [c.name for c in spec.columns]
    types = ["text", *(c.sql_type for c in spec.columns)]
    insert_columns = ["id", "partner_id", "source", "realm_id", *names]
    select = ["v.id", "$1", "'qbo'", "$2", *(f"v.{n}" for n in names)]
    if (ref := spec.reference) is not None:
        # The referenced row by its primary key (its id is known: `platform_id` of its QBO identity), NULL
        # while it does not exist. Not a join, nor a lookup through (partner_id, realm_id, qbo_id): their
        # plans depend on the statistics, and stale ones (a generic plan made while the table was
        # unanalysed, or statistics taken when it held one row) read all the partner's customers, or the
        # whole table, for each invoice: 1-4 s of PostgreSQL CPU per 1,000-row backfill page.
        types.append("text")
        names = [*names, "ref_id"]
        insert_columns.append(ref.column)
        select.append(f"(SELECT r.id FROM {ref.table} r WHERE r.id = v.ref_id AND r.qbo_id = v.{ref.via})")
    arrays = ", ".join(f"${i + 3}::{t}[]" for i, t in enumerate(types))
    sets = [f"{c.name} = {c.update or 'EXCLUDED.' + c.name}" for c in spec.columns if c.name != "qbo_id"]
    if ref is not None:
        sets.append(f"{ref.column} = EXCLUDED.{ref.column}")
    action = f"DO UPDATE SET {', '.join(sets)}, updated_at = now()" if update else "DO NOTHING RETURNING qbo_id"
    new_only = "" if update else (
        f"WHERE NOT EXISTS (SELECT 1 FROM qbo_staging s WHERE s.partner_id = $1 AND s.entity = '{spec.name}' "
        "AND s.realm_id = $2 AND s.qbo_id = v.qbo_id)")
    return (
        f"INSERT INTO {spec.table} AS t ({', '.join(insert_columns)}) SELECT {', '.join(select)} "
        f"FROM unnest({arrays}) AS v(id, {', '.join(names)}) {new_only} "
        f"ON CONFLICT (partner_id, realm_id, qbo_id) WHERE qbo_id IS NOT NULL {action}"
    )


_WRITE_SQL = {(spec.name, update): _write_sql(spec, update=update)
              for spec in entities.SYNCED for update in (True, False)}


def _write_args(spec: entities.SyncedEntity, partner_id: str, realm_id: str, states: Sequence[Any]) -> list[Any]:
    ids = [platform_id(spec.id_prefix, partner_id, realm_id, s.qbo_id) for s in states]
    args = [partner_id, realm_id, ids, *([getattr(s, c.name) for s in states] for c in spec.columns)]
    if (ref := spec.reference) is not None:
        prefix = entities.BY_TABLE[ref.table].id_prefix
        args.append([None if getattr(s, ref.via) is None else platform_id(prefix, partner_id, realm_id, getattr(s, ref.via))
                     for s in states])
    return args


async def write_states(conn: Conn, spec: entities.SyncedEntity, partner_id: str, realm_id: str,
                       states: Sequence[Any]) -> int:
    """Write the decisions' states (full rows, inserted or updated); returns how many rows were written."""
    if not states:
        return 0
    status = await conn.execute(_WRITE_SQL[spec.name, True], *_write_args(spec, partner_id, realm_id, states))
    return int(status.rsplit(" ", 1)[-1])


async def insert_new(conn: Conn, spec: entities.SyncedEntity, partner_id: str, realm_id: str,
                     states: Sequence[Any]) -> set[str]:
    """Insert the states of objects the platform has never seen (no row, no staged version: decided
    without a snapshot, activities/sync.py); returns the QBO ids inserted. The others are left alone: a
    row that exists or appears meanwhile (ON CONFLICT) is the caller's to stage."""
    if not states:
        return set()
    rows = await conn.fetch(_WRITE_SQL[spec.name, False], *_write_args(spec, partner_id, realm_id, states))
    return {r["qbo_id"] for r in rows}


async def log_entries(conn: Conn, partner_id: str, run_id: int | None, entries: Sequence[tuple[object, ...]]) -> None:
    """entries: (kind, entity, qbo_id, platform_id, reason, details dict). Deduped by `sync_log_dedupe`."""
    if not entries:
        return  # an empty executemany still prepares its statement: a round trip for nothing
    await conn.executemany(
        "INSERT INTO sync_log (partner_id, sync_run_id, kind, entity, qbo_id, platform_id, reason, details) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb) ON CONFLICT DO NOTHING",
        [(partner_id, run_id, k, e, q, p, r, json.dumps(d)) for k, e, q, p, r, d in entries],
    )
