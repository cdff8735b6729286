"""QBO → platform: fetch (stage QBO data in PostgreSQL, return counts and a cursor) and apply (diff the
staged data against the platform by the pure rules, in batched transactions). The backfill's steps are in
activities/backfill.py, mixed into SyncActivities.

Crash safety: every staged page commits together with the backfill position that produced it; the CDC cursor
moves only after its staging committed; apply deletes the staging rows it applied in the same transaction
as the writes. Platform ids are derived from the QBO identity, so a retry never creates a second row.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from temporalio import activity

from activities import own_postings as own
from activities.backfill import READ, BackfillSteps, raw_to_staged
from activities.currency import currency_facts, facts_of, read_currency_prefs
from activities.errors import heartbeat, qbo_failures, temporal_failure
from metrics.service import SYNC_CYCLES
from qbo.cdc import CdcResult
from qbo.client import QboApi
from qbo.jsonio import dumps, loads
from qbo.pages import RawObject
from rules import BadQboPayload, SyncAction, newest_change, parse_account
from rules import entities as synced
from store import cycle_repo
from store import own_postings_repo as own_repo
from store import sync_repo as repo
from store.db import Conn
from workflows.models import (
    ApplyInput,
    ApplySummary,
    FetchResult,
    FinishSyncRun,
    SyncRunStart,
    cycle_counts,
)

SYNCED = synced.BACKFILL_ORDER  # apply order too: invoices resolve their customer by QBO id
# Payment and Deposit ride in the same CDC request (no extra call): only our own postings are staged, to see a
# bookkeeper delete, void or edit them (activities/own_postings.py, PRODUCT.md §3 last row).
CDC_ENTITIES = (*SYNCED, "Account", *own.OWN_POSTINGS)
CDC_OVERLAP = timedelta(minutes=5)
CDC_MAX_AGE = timedelta(days=29)
PREFS_MAX_AGE = timedelta(hours=12)  # Preferences are re-read by the daily sweep (and after their webhook)
APPLY_BATCH = 500
APPLY_ORDER = (*SYNCED, *own.OWN_POSTINGS)
# At most this many staged versions are applied by fetch_changes itself (one batch per entity, well under
# a second); more are left to apply_staged, its own activity with its own deadline.
APPLY_IN_FETCH = APPLY_BATCH
_SUMMARY_FIELD = {
    SyncAction.CREATE: "created", SyncAction.UPDATE: "updated", SyncAction.ARCHIVE: "archived",
    SyncAction.UNARCHIVE: "unarchived", SyncAction.MARK_VOID: "voided", SyncAction.CONFLICT: "conflicts",
    SyncAction.IGNORE_STALE: "stale", SyncAction.NO_CHANGE: "unchanged",
    SyncAction.SKIP_PLATFORM_OWNED: "unchanged",
}


def tombstone(qbo_id: str) -> repo.StagedObject:
    payload = dumps({"domain": "QBO", "status": "Deleted", "Id": qbo_id})
    return repo.StagedObject(qbo_id, repo.TOMBSTONE_TOKEN, None, True, payload)


class SyncActivities(BackfillSteps):
    """QBO → platform: the backfill's steps (activities/backfill.py, mixed in), the cycle's fetch, and the
    apply both share."""

    def __init__(self, pool: asyncpg.Pool, qbo: QboApi, *, page_size: int = 1000) -> None:
        self.pool = pool
        self.qbo = qbo
        self.page_size = page_size
        #: Test hook, awaited after each committed backfill page (to simulate a crash mid-chunk).
        self.after_page: Callable[[str, int], Awaitable[None]] | None = None
        #: Test hook: False stages every backfilled object for `apply_staged` (the row-by-row path), so a
        #: test can compare it with the set-based one on the same pages.
        self.insert_new = True
        #: Test hook, awaited inside apply's transaction between the snapshot read and the write.
        self.after_snapshot: Callable[[str], Awaitable[None]] | None = None

    # --- fetch --------------------------------------------------------------------------------------

    @activity.defn
    @qbo_failures
    async def fetch_changes(self, input: SyncRunStart) -> FetchResult:
        """Stage what changed in QBO (CDC, or a full sweep); apply it too when the workflow asks and it is
        little (`_apply_if_small`); finish the run itself when nothing else is left to do. PostgreSQL is read
        once before QBO is asked and, in an idle cycle, written once after (store/cycle_repo.py)."""
        pid, began = input.partner_id, time.monotonic()
        # Also withdraws the webhook signal before CDC is read (api/webhooks.py coalescing, store/cycle_repo.py).
        facts = await cycle_repo.cycle_facts(self.pool, pid)
        conn_info = facts.connection

        def took() -> timedelta:
            return timedelta(seconds=time.monotonic() - began)

        try:
            staged, accounts, cursor, swept = await self._fetch(pid, conn_info, input.full_sweep)
            prefs_read = await self._refresh_currency_prefs(pid, conn_info, input.full_sweep, facts.preferences_event)
        except Exception as exc:
            # The run records the failure as Temporal will see it ("QboThrottled: …"), the type name included.
            error = f"fetch failed: {temporal_failure(exc)}"[:500]
            await cycle_repo.record_fetch(self.pool, pid, input.trigger, took(), cursor=None, error=error)
            _count_cycle(input.trigger, True)
            raise
        payments, payouts = facts.pending_payments, facts.pending_payouts
        # Versions an earlier attempt staged and did not apply make the cycle not idle (`_apply_if_small`).
        idle = not staged and not payments and not payouts and not facts.staged_waiting
        run_id = await cycle_repo.record_fetch(self.pool, pid, input.trigger, took(), cursor=cursor, swept=swept,
                                               idle=idle)
        if idle:
            _count_cycle(input.trigger, False)
            applied, finished = (ApplySummary() if input.apply_small_changes else None), True
        else:
            waiting = facts.staged_waiting + staged  # rows inserted into staging by this fetch (`repo.stage`)
            applied = await self._apply_if_small(pid, run_id, waiting) if input.apply_small_changes else None
            if applied is not None and applied != ApplySummary():
                # What was applied may clear a parked item's cause: counted before the apply, it would be
                # posted a cycle late (an interval, when no webhook comes).
                payments, payouts = await cycle_repo.pending_counts(self.pool, pid)
            # Nothing left for the workflow to do but record the run: record it here (one activity fewer).
            finished = not payments and not payouts and (applied is not None or not staged)
            if finished:
                counts = cycle_counts(staged, applied)
                _count_cycle(await repo.finish_run(self.pool, pid, run_id, counts, None), False)
        # Preferences read by this cycle, or invoices it applied, make the facts read before it stale (one
        # more read, never in an idle cycle).
        changed = prefs_read or (applied is not None and applied != ApplySummary())
        currency = await currency_facts(self.pool, pid) if changed else facts_of(conn_info, facts.invoice_currencies)
        return FetchResult(sync_run_id=run_id, staged=staged, accounts_changed=accounts,
                           pending_payments=payments, pending_payouts=payouts, cursor=cursor,
                           reconcile_requested=facts.reconcile_requested, currency=currency, applied=applied,
                           run_finished=finished)

    async def _apply_if_small(self, pid: str, run_id: int, waiting: int) -> ApplySummary | None:
        """Apply what waits in staging within this activity when it is little (a webhook's few edits), by
        `apply_staged` itself: a cycle of one activity instead of three costs the Temporal server two
        activity tasks and two workflow tasks less (issue 15). `waiting` counts what the table held before
        this fetch too, not only this attempt's `staged`: a retry after an attempt that died between staging
        and applying stages nothing new (the versions are staged already) and must still apply them; after
        one that died once applied, the re-read versions are the platform's already and are not staged again
        (`repo.stage`), so nothing is applied or counted twice. None: more waits than one batch, left to
        `apply_staged`."""
        if waiting > APPLY_IN_FETCH:
            return None
        if not waiting:
            return ApplySummary()
        try:
            return await self.apply_staged(ApplyInput(partner_id=pid, sync_run_id=run_id))
        except Exception as exc:  # as a failed fetch: the run says so, the retry applies what is left
            error = f"apply failed: {temporal_failure(exc)}"[:500]
            _count_cycle(await repo.finish_run(self.pool, pid, run_id, {}, error), True)
            raise

    async def _refresh_currency_prefs(self, pid: str, conn_info: repo.Connection, full_sweep: bool,
                                      event_since_read: bool) -> bool:
        """Read Preferences when never read (a connection older than this code), after a `Preferences` webhook
        since the last read, or on a full sweep when the last read is older than PREFS_MAX_AGE (the first
        sweep after onboarding does not read them again); otherwise no call (docs/currency.md). True when
        they were read."""
        read_at = conn_info.currency_prefs_read_at
        stale = read_at is None or datetime.now(UTC) - read_at > PREFS_MAX_AGE
        if conn_info.home_currency is None or (full_sweep and stale) or event_since_read:
            await read_currency_prefs(self.pool, self.qbo.company(pid), pid)
            return True
        return False

    async def _fetch(self, pid: str, conn_info: repo.Connection, full_sweep: bool
                     ) -> tuple[int, bool, datetime, bool]:
        """(staged, accounts changed, the next cursor, whether this was a full sweep); the caller stores the
        cursor once everything staged has committed."""
        started = datetime.now(UTC)
        cursor = conn_info.cdc_cursor
        if full_sweep or cursor is None or started - (cursor - CDC_OVERLAP) > CDC_MAX_AGE:
            staged = await self._sweep(pid, conn_info.realm_id, SYNCED)
            staged += await self._own_postings_since(pid, conn_info.realm_id, cursor, started)
            return staged, False, started, True
        return (*await self._cdc(pid, conn_info.realm_id, cursor - CDC_OVERLAP, started), False)

    async def _cdc(self, pid: str, realm: str, since: datetime, started: datetime) -> tuple[int, bool, datetime]:
        """Stage what CDC returns since `since` (which is `CDC_OVERLAP` before the cursor, so most of the answer
        is versions staging already knows and drops in SQL). Objects come as the JSON text QBO sent
        (`qbo.pages.RawObject`): only their identity is decoded, and it is staged as is, amounts exact; only
        Accounts are read whole (`_refresh_accounts`)."""
        company = self.qbo.company(pid)
        result = CdcResult(changed_since=since)
        staged, accounts = 0, []
        async for entity, objects in company.iter_cdc(CDC_ENTITIES, since, result):
            if entity == "Account":
                accounts.extend(objects)
            elif (entity in SYNCED or entity in own.OWN_POSTINGS) and objects:
                staged += await repo.stage(self.pool, pid, realm, entity, [raw_to_staged(o) for o in objects])
            heartbeat(entity, staged)
        blind = sorted(result.deletes_may_be_missing & set(SYNCED))
        if blind:
            staged += await self._sweep(pid, realm, blind, restage=False)
        for entity in sorted(result.deletes_may_be_missing & set(own.OWN_POSTINGS)):
            staged += await own.stage_by_lookup(self.pool, company, pid, realm, entity)
        accounts_changed = bool(accounts) and await self._refresh_accounts(pid, accounts) > 0
        # The answer's server time is the next cursor; fetch_changes subtracts the overlap next time.
        return staged, accounts_changed, result.server_time or started

    async def _own_postings_since(self, pid: str, realm: str, cursor: datetime | None, started: datetime) -> int:
        """A sweep cycle asks CDC nothing, so ask it for Payments and Deposits alone (one call, and only when
        something we posted could have changed); with no usable cursor, look our postings up by Id."""
        if not await own_repo.any_standing(self.pool, pid, realm):
            return 0
        company = self.qbo.company(pid)
        if cursor is None or started - (cursor - CDC_OVERLAP) > CDC_MAX_AGE:
            return sum([await own.stage_by_lookup(self.pool, company, pid, realm, e) for e in own.OWN_POSTINGS])
        result, staged = CdcResult(changed_since=cursor - CDC_OVERLAP), 0
        async for entity, objects in company.iter_cdc(own.OWN_POSTINGS, cursor - CDC_OVERLAP, result):
            staged += await repo.stage(self.pool, pid, realm, entity, [raw_to_staged(o) for o in objects])
        for entity in sorted(result.deletes_may_be_missing & set(own.OWN_POSTINGS)):
            staged += await own.stage_by_lookup(self.pool, company, pid, realm, entity)
        return staged

    async def _refresh_accounts(self, pid: str, accounts: list[RawObject]) -> int:
        """The changed Accounts, the only CDC objects read whole here (their JSON as QBO sent it); a deleted
        or unreadable one is skipped."""
        parsed, currencies = [], {}
        for obj in accounts:
            if obj.deleted:
                continue
            raw = loads(obj.json)
            try:
                parsed.append(parse_account(raw))
            except BadQboPayload:
                continue
            currencies[obj.qbo_id] = (raw.get("CurrencyRef") or {}).get("value")
        return await repo.upsert_accounts(self.pool, pid, parsed, currencies)

    async def _sweep(self, pid: str, realm: str, entities: Iterable[str], *, restage: bool = True) -> int:
        """Page every object of each entity and tombstone what QBO no longer has. With `restage`, also stage
        the versions the platform lacks (the daily sweep); without, only ids are checked (after a possibly
        truncated CDC answer, when deletes may be missing but the changes themselves arrived)."""
        staged = 0
        for entity in entities:
            seen: set[str] = set()
            pages = self.qbo.company(pid).raw_pages(entity, page_size=self.page_size, include_inactive=True)
            async with aclosing(pages):
                async for page in pages:
                    seen.update(o.qbo_id for o in page.items)
                    if restage:
                        staged += await repo.stage(self.pool, pid, realm, entity,
                                                   [raw_to_staged(o) for o in page.items])
                    heartbeat(entity, page.next_start_position)
            staged += await self._stage_missing(pid, realm, entity, seen)
        return staged

    async def _stage_missing(self, pid: str, realm: str, entity: str, seen: set[str]) -> int:
        missing = [q for q in await repo.platform_qbo_ids(self.pool, pid, realm, entity) if q not in seen]
        return await repo.stage(self.pool, pid, realm, entity, [tombstone(q) for q in missing])

    # --- apply --------------------------------------------------------------------------------------

    @activity.defn
    async def apply_staged(self, input: ApplyInput) -> ApplySummary:
        """Apply everything staged, customers first, one transaction per batch of objects."""
        summary = ApplySummary()
        # An invoice without CurrencyRef is in the company's home currency (qbo-reference §15.5), as read from
        # Preferences; USD only for a company whose preferences were never read.
        home = (await repo.load_connection(self.pool, input.partner_id)).home_currency or "USD"
        waiting = await repo.staged_entities(self.pool, input.partner_id, APPLY_ORDER)
        for entity in (e for e in APPLY_ORDER if e in waiting):
            after: tuple[str, str] | None = None
            while after := await self._apply_batch(input, entity, summary, after, home):
                heartbeat(entity, summary.model_dump())
        summary.remaining = await repo.staged_count(self.pool, input.partner_id)
        return summary

    async def _apply_batch(self, input: ApplyInput, entity: str, summary: ApplySummary,
                           after: tuple[str, str] | None, home: str) -> tuple[str, str] | None:
        """Apply the next batch after the key `after`; return the last key applied, or None when done: when
        nothing was left, or the batch held fewer objects than a batch may (what gets staged meanwhile waits
        for the next cycle, as it would a moment later)."""
        pid = input.partner_id
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await repo.next_staged_batch(conn, pid, entity, APPLY_BATCH, after)
            if not rows:
                return None
            by_realm: dict[str, list[asyncpg.Record]] = defaultdict(list)
            for row in rows:
                by_realm[row["realm_id"]].append(row)
            for realm, realm_rows in by_realm.items():
                await self._apply_rows(conn, input, realm, entity, realm_rows, summary, home)
            keys = [(r["realm_id"], r["qbo_id"], r["sync_token"]) for r in rows]
            await repo.delete_staged(conn, pid, entity, keys)
        if len({(realm, qbo_id) for realm, qbo_id, _ in keys}) < APPLY_BATCH:
            return None  # no look for a next batch: a transaction and a query fewer in every cycle
        return rows[-1]["realm_id"], rows[-1]["qbo_id"]

    async def _apply_rows(self, conn: Conn, input: ApplyInput, realm: str, entity: str,
                          rows: list[asyncpg.Record], summary: ApplySummary, home: str) -> None:
        log: list[tuple[str, str, str, str | None, str, dict[str, Any]]]
        pid, log = input.partner_id, []
        if entity in own.OWN_POSTINGS:
            await own.apply_rows(conn, pid, input.sync_run_id, realm, entity, rows, summary)
            return
        spec, read = synced.BY_NAME[entity], READ[entity]
        changes: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            try:  # parsed before `changes[...]` is touched: an unreadable id must not leave an empty entry
                parsed = spec.parse(read(row["payload"]), home)
            except BadQboPayload as exc:
                log.append(("error", entity, row["qbo_id"], None, f"unreadable QBO payload: {exc}",
                            {"sync_token": str(row["sync_token"])}))
                continue
            changes[row["qbo_id"]].append(parsed)
        snapshots = await self._snapshots(conn, spec, pid, realm, list(changes))
        if self.after_snapshot is not None:
            await self.after_snapshot(entity)
        states = []
        for qbo_id, versions in changes.items():
            platform = snapshots.get(qbo_id)
            decision = spec.decide(platform, newest_change(versions))
            field = _SUMMARY_FIELD[decision.action]
            setattr(summary, field, getattr(summary, field) + 1)
            if decision.state is not None:
                states.append(decision.state)
            if decision.action == SyncAction.CONFLICT:
                log.append(("conflict", entity, qbo_id, platform.id if platform else None,
                            decision.reason or "conflict", decision.log_details()))
        await repo.write_states(conn, spec, pid, realm, states)
        await repo.log_entries(conn, pid, input.sync_run_id, log)

    async def _snapshots(self, conn: Conn, spec: synced.SyncedEntity, pid: str, realm: str, qbo_ids: list[str]) -> dict[str, Any]:
        rows = await repo.snapshots(conn, spec, pid, realm, qbo_ids)
        return {r["qbo_id"]: spec.platform(**dict(r)) for r in rows}

    # --- finish -------------------------------------------------------------------------------------

    @activity.defn
    async def finish_sync_run(self, input: FinishSyncRun) -> None:
        trigger = await repo.finish_run(self.pool, input.partner_id, input.sync_run_id, input.counts, input.error)
        _count_cycle(trigger, input.error is not None)


_TRIGGERS = frozenset({"interval", "sync_now", "onboarding", "reconnected"})


def _count_cycle(trigger: str | None, failed: bool) -> None:
    """Count a cycle the run's first finish closed (`None`: a retry closing it again, not counted)."""
    if trigger is not None:
        SYNC_CYCLES.labels(trigger if trigger in _TRIGGERS else "other", "failed" if failed else "succeeded").inc()
