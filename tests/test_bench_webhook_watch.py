"""The webhook load benchmark's watcher (bench/webhook_watch.py `Visibility.poll`) reads only the invoice rows
written since its previous poll, so it must still notice every awaited change: one whose transaction was
running during a poll and committed after it, and one the service stored before the change was awaited
(a cycle triggered by an earlier delivery read the edit before its own delivery was sent). Real PostgreSQL;
the API read is replaced by a record of which partners would be asked."""

from __future__ import annotations

import uuid

from bench.webhook_watch import Change, Visibility


class Watcher(Visibility):
    def __init__(self, db) -> None:
        super().__init__(db)
        self.asked: list[str] = []

    def _ask(self, pid: str) -> None:
        self.asked.append(pid)


async def _invoices(db_pool, n: int) -> tuple[str, list[str]]:
    pid = f"p_{uuid.uuid4().hex[:12]}"
    await db_pool.execute("INSERT INTO partners (id, name) VALUES ($1, 'Watched')", pid)
    ids = [f"inv_{uuid.uuid4().hex[:16]}" for _ in range(n)]
    for qbo_id, iid in enumerate(ids, 1):
        await db_pool.execute(
            "INSERT INTO invoices (id, partner_id, source, realm_id, qbo_id, amount, balance, status, doc_number) "
            "VALUES ($1, $2, 'qbo', '9', $3, 1, 1, 'open', 'L0')", iid, pid, str(qbo_id))
    return pid, ids


async def _show(db, iid: str, seq: int) -> None:
    await db.execute("UPDATE invoices SET doc_number = $2 WHERE id = $1", iid, f"L{seq}")


async def test_a_change_committed_after_a_poll_began_is_seen_by_the_next(db_pool) -> None:
    """One apply transaction is still running while a later one has committed (the case that makes the
    horizon the oldest running transaction, not the newest finished one)."""
    pid, (iid, other) = await _invoices(db_pool, 2)
    watcher = Watcher(db_pool)
    watcher.expect([Change(1, pid, iid)])
    horizon = await watcher.poll(0)
    assert watcher.asked == []
    async with db_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await _show(conn, iid, 1)  # the service's apply, still running while the watcher polls
        await _show(db_pool, other, 9)  # another, begun later, already committed
        horizon = await watcher.poll(horizon)
        assert watcher.asked == [], "not committed yet"
        await tx.commit()
    await watcher.poll(horizon)
    assert watcher.asked == [pid]


async def test_a_change_stored_before_it_was_awaited_is_seen(db_pool) -> None:
    pid, (early, other) = await _invoices(db_pool, 2)
    watcher = Watcher(db_pool)
    watcher.expect([Change(1, pid, other)])
    horizon = await watcher.poll(0)
    await _show(db_pool, early, 2)
    horizon = await watcher.poll(horizon)  # reads the row: nothing awaits it yet
    horizon = await watcher.poll(horizon)
    assert watcher.asked == []
    watcher.expect([Change(2, pid, early)])
    await watcher.poll(horizon)
    assert watcher.asked == [pid]
