"""The sync's check of our own postings (PRODUCT.md §3 last row): Payments and Deposits this service created,
deleted / voided / edited in QBO by a person. Called from activities/sync.py, never on its own.

Fetch stages the QBO Payments and Deposits CDC returned (the same CDC request as invoices, no extra call),
keeping only versions of our own standing postings (`own_postings_repo.stage_filter`). When CDC may have
missed deletes (a possibly truncated answer, qbo-reference §4) or could not be asked (cursor too old), the
standing postings are looked up by Id instead (`Id IN (…)`, ≤ 1000 per query) and what QBO no longer has is
staged as a tombstone. Apply decides per object with `rules.own_postings` and flags what changed
`needs_attention` (`qbo_change` set, so the invoice balance rule no longer counts it as unposted), logging one
conflict. Nothing is re-posted: only `pending` payments and payouts are ever posted.
"""

from __future__ import annotations

import asyncpg

from activities.backfill import raw_to_staged
from activities.errors import heartbeat
from qbo.client import QboCompany
from qbo.jsonio import dumps, loads
from qbo.query import MAX_PAGE
from rules.facts import BadQboPayload, QboTombstone
from rules.own_postings import OwnPosting, QboPostingFacts, decide_own_posting, parse_posting
from store import own_postings_repo as repo
from store import sync_repo
from store.db import Conn
from workflows.models import ApplySummary

OWN_POSTINGS = ("Payment", "Deposit")


def _tombstone(qbo_id: str) -> sync_repo.StagedObject:
    payload = dumps({"domain": "QBO", "status": "Deleted", "Id": qbo_id})
    return sync_repo.StagedObject(qbo_id, sync_repo.TOMBSTONE_TOKEN, None, True, payload)


async def stage_by_lookup(pool: asyncpg.Pool, company: QboCompany, partner_id: str, realm_id: str,
                          entity: str) -> int:
    """Read every standing posting of `entity` by Id (batched) and stage what QBO has, plus a tombstone for
    each Id QBO no longer has. For when CDC cannot be trusted to carry deletes. Read as the CDC answer is
    (`qbo.pages`: the JSON as QBO sent it, staged as is)."""
    ids = [r["qbo_id"] for r in await repo.candidates(pool, partner_id, realm_id, entity)]
    staged = 0
    for start in range(0, len(ids), MAX_PAGE):
        chunk = ids[start:start + MAX_PAGE]
        found = [o async for page in company.raw_pages(entity, where=[("Id", "IN", chunk)], max_pages=1)
                 for o in page.items]
        seen = {o.qbo_id for o in found}
        objects = [raw_to_staged(o) for o in found] + [_tombstone(i) for i in chunk if i not in seen]
        staged += await sync_repo.stage(pool, partner_id, realm_id, entity, objects)
        heartbeat(entity, start)
    return staged


async def apply_rows(conn: Conn, partner_id: str, run_id: int | None, realm_id: str, entity: str,
                     rows: list[asyncpg.Record], summary: ApplySummary) -> None:
    """Check one batch of staged Payment / Deposit versions against our postings, in the caller's transaction."""
    newest: dict[str, QboPostingFacts | QboTombstone] = {}
    errors = []
    for row in rows:  # ordered by SyncToken; a tombstone sorts last (sync_repo.TOMBSTONE_TOKEN)
        try:
            newest[row["qbo_id"]] = parse_posting(loads(row["payload"]), entity)  # type: ignore[arg-type]
        except BadQboPayload as exc:
            errors.append(("error", entity, row["qbo_id"], None, f"unreadable QBO payload: {exc}",
                           {"sync_token": str(row["sync_token"])}))
    ours = {r["qbo_id"]: OwnPosting(entity=entity, platform_id=r["id"], qbo_id=r["qbo_id"], amount=r["amount"],
                                    invoice_qbo_id=r["invoice_qbo_id"], invoice_closed=r["invoice_closed"],
                                    refunds_in_flight=r["refunds_in_flight"] or {})
            for r in await repo.candidates(conn, partner_id, realm_id, entity, list(newest))}
    unchanged: list[tuple[str, int]] = []
    for qbo_id, seen in newest.items():
        posting = ours.get(qbo_id)
        if posting is None:
            continue  # not ours, or already flagged
        decision = decide_own_posting(posting, seen)
        if decision.change is None:
            unchanged.append((posting.platform_id, decision.sync_token or 0))
        elif await repo.mark_changed(conn, partner_id, run_id, entity, posting.platform_id, qbo_id,
                                     decision.change.value, decision.reason or "changed in QBO",
                                     decision.sync_token):
            summary.postings_changed_in_qbo += 1
    await repo.record_checked(conn, entity, unchanged)
    await sync_repo.log_entries(conn, partner_id, run_id, errors)
