"""The backfill's set-based path (new objects decided with their page and inserted in one statement) writes
exactly what the row-by-row path (stage everything, `apply_staged` with snapshots) writes, on the same pages
of the same company: the same §3 rule functions decide both (rules/entities.py)."""

from __future__ import annotations

from tests.sync.conftest import Synced, make_synced


async def _mirror(s: Synced) -> dict[str, list[dict]]:
    """Every platform column but the row timestamps, in a stable order."""
    out = {}
    for table in ("customers", "invoices"):
        rows = await s.pool.fetch(f"SELECT * FROM {table} WHERE partner_id = $1 ORDER BY id", s.partner_id)
        out[table] = [{k: v for k, v in r.items() if k not in ("created_at", "updated_at")} for r in rows]
    return out


async def _backfill(s: Synced) -> tuple[int, int]:
    """The workflow's backfill; returns (objects applied with their page, objects left staged)."""
    applied = staged = 0
    for entity in ("Customer", "Invoice"):
        while True:
            chunk = await s.backfill(entity)
            applied, staged = applied + chunk.applied, staged + chunk.staged
            if chunk.staged:
                assert (await s.apply()).remaining == 0
            if chunk.finished:
                break
    return applied, staged


async def _forget(s: Synced) -> None:
    for table in ("invoices", "customers", "backfill_progress", "qbo_staging"):
        await s.pool.execute(f"DELETE FROM {table} WHERE partner_id = $1", s.partner_id)


async def test_set_based_backfill_equals_row_by_row(connect, api, emu, db_pool, emulator_url) -> None:
    # Inactive customers (3 % of them), sub-customers, paid and partially paid invoices (payments), several
    # pages per entity.
    s = await make_synced(connect, api, emu, db_pool, emulator_url, page_size=50, customers=120, invoices=260,
                          payments=80, random_seed=11)
    try:
        assert await _backfill(s) == (380, 0)
        in_sets = await _mirror(s)
        assert len(in_sets["customers"]) == 120 and len(in_sets["invoices"]) == 260
        assert any(c["archived"] for c in in_sets["customers"])
        assert {i["status"] for i in in_sets["invoices"]} >= {"open", "paid"}

        await _forget(s)
        s.acts.insert_new = False
        assert await _backfill(s) == (0, 380)
        assert await _mirror(s) == in_sets

        # Mixed: what the platform holds already goes the row-by-row way, the rest in sets; same rows.
        await s.pool.execute("DELETE FROM invoices WHERE partner_id = $1 AND qbo_id::int % 3 = 0", s.partner_id)
        await s.pool.execute("DELETE FROM backfill_progress WHERE partner_id = $1", s.partner_id)
        await s.pool.execute("UPDATE invoices SET qbo_sync_token = 0 WHERE partner_id = $1", s.partner_id)
        s.acts.insert_new = True
        applied, staged = await _backfill(s)
        kept = [i for i in in_sets["invoices"] if int(i["qbo_id"]) % 3 != 0]
        assert applied == 260 - len(kept)
        # Staged: the kept invoices QBO holds a newer version of (paid ones); unchanged versions and every
        # customer are skipped by staging's filter.
        assert 0 < staged == sum(1 for i in kept if i["qbo_sync_token"] > 0)
        assert await _mirror(s) == in_sets
    finally:
        s.books.close()
