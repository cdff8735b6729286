"""Outstanding `sync_now` signals, one row per partner (migration 0016), so webhook routing signals a partner
once per cycle rather than once per event (api/webhooks.py; issue 15 item 4).

The protocol, and why nothing is lost:
- a routing pass *claims* the signal (`claim`): a row is inserted, or taken over when its claim is older
  than `stale` (a crash between claiming and signalling must not keep the partner deaf);
- after Temporal took the signal the pass marks it *delivered* (`delivered`); after a failure or a timeout it
  *releases* it (`release`), so the next event or the retry loop signals again;
- the cycle's `fetch_changes` *clears* it before it reads CDC (its first statement, `store/cycle_repo.py`,
  deletes the row). An event that finds a delivered claim needs no signal: the change it announces was in
  QBO before the event was stored, and the cycle that will clear the row reads CDC after clearing it. An
  event stored after the clear claims anew.
Each step names the claim it acts on (`requested_at`, unique per claim), so a late answer to an old claim
never touches a newer one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from store.db import Db


async def claim(db: Db, partner_ids: list[str], stale: timedelta) -> tuple[dict[str, datetime], set[str]]:
    """The partners whose signal this pass now owns, each with its claim's `requested_at`, and, of the
    others, those whose claimed signal Temporal took and whose cycle has not cleared it yet (covered).
    A partner with a fresher claim of another pass is not claimed; one whose signal another pass is still
    sending is neither. Atomic per partner: ON CONFLICT takes the row lock, so a concurrent `clear` either
    came first and the row is new, or comes after and the claim stands. One statement: the outer SELECT
    reads the rows as they were when it began (a data-modifying CTE's rule), which for a row claimed
    elsewhere a moment ago only means "not covered" (its events wait for a retry)."""
    if not partner_ids:
        return {}, set()
    rows = await db.fetch(
        "WITH claimed AS ("
        " INSERT INTO sync_requests AS s (partner_id, requested_at)"
        " SELECT pid, clock_timestamp() FROM unnest($1::text[]) AS pid"
        " ON CONFLICT (partner_id) DO UPDATE SET requested_at = excluded.requested_at, signalled_at = NULL"
        " WHERE s.requested_at < now() - $2::interval"
        " RETURNING partner_id, requested_at) "
        "SELECT p.pid, c.requested_at AS claim, s.signalled_at IS NOT NULL AS covered "
        "FROM unnest($1::text[]) AS p(pid) LEFT JOIN claimed c ON c.partner_id = p.pid "
        "LEFT JOIN sync_requests s ON s.partner_id = p.pid", sorted(partner_ids), stale)
    claims = {r["pid"]: r["claim"] for r in rows if r["claim"] is not None}
    return claims, {r["pid"] for r in rows if r["claim"] is None and r["covered"]}


async def delivered(db: Db, partner_id: str, requested_at: datetime) -> None:
    await db.execute("UPDATE sync_requests SET signalled_at = clock_timestamp() "
                     "WHERE partner_id = $1 AND requested_at = $2", partner_id, requested_at)


async def release(db: Db, partner_id: str, requested_at: datetime) -> None:
    await db.execute("DELETE FROM sync_requests WHERE partner_id = $1 AND requested_at = $2",
                     partner_id, requested_at)
