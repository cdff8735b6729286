"""The webhook load benchmark's eyes (bench/webhook_load.py): when does a change show in the platform API?

PostgreSQL says when to look, the API's answer is what is timed. Every `DB_POLL` PostgreSQL is asked which
invoice rows were written since its previous answer (by row version, `xmin`: a few new rows rather than
every awaited invoice, which also spares the service's PostgreSQL), and the partner's
`GET /partners/{pid}/invoices` is read once an awaited row shows its change: the latency is therefore an
upper bound by one API request. Reads use one small client per partner, made before the load, and decode
only the two fields read.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
import httpx
import msgspec

DB_POLL = 0.01


class _Shown(msgspec.Struct):
    id: str
    doc_number: str | None = None


class _InvoicePage(msgspec.Struct):
    items: list[_Shown]
    next_cursor: str | None = None


# Only the fields read: the rest of each invoice (lines, amounts) is skipped, never built.
INVOICE_PAGE = msgspec.json.Decoder(_InvoicePage)
# Invoice rows whose version is at or past the oldest transaction running at the previous poll (`$1`: the
# rows any commit since then wrote), plus the invoices awaited since then (`$2`: a cycle may have stored
# a change before its delivery was even sent). One row with the new horizon comes back even when none
# changed. The comparison is on 32-bit xids: a benchmark's fresh cluster never wraps around.
CHANGED_ROWS = (
    "SELECT h.horizon, i.id, i.partner_id, i.doc_number "
    "FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon) h "
    "LEFT JOIN invoices i ON i.xmin::text::bigint >= $1::bigint % 4294967296 OR i.id = ANY($2::text[])")


@dataclass
class Change:
    seq: int
    pid: str
    invoice: str
    t0: float = 0.0
    visible_after: float | None = None


def doc_seq(doc: str | None) -> int:
    return int(doc[1:]) if doc and doc.startswith("L") and doc[1:].isdigit() else -1


class Visibility:
    """Changes awaited in the API; PostgreSQL says when to look, the API's answer is what is timed."""

    def __init__(self, db: asyncpg.Pool, api_url: str = "", pids: tuple[str, ...] = ()) -> None:
        self.db = db
        self.waiting: dict[str, list[Change]] = {}  # platform invoice id → changes not yet seen
        self._fresh: set[str] = set()  # invoices awaited since the last poll: looked at once in full
        # One small client per partner (at most one read of a partner is under way), made before the load.
        self._clients = {pid: httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=2)) for pid in pids}
        self._urls = {pid: httpx.URL(f"{api_url}/partners/{pid}/invoices?limit=1000") for pid in pids}
        self.done: list[Change] = []
        self._asking: set[str] = set()
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task] = set()

    def expect(self, changes: list[Change]) -> None:
        for c in changes:
            self.waiting.setdefault(c.invoice, []).append(c)
            self._fresh.add(c.invoice)

    async def watch(self, stop: asyncio.Event) -> None:
        horizon = 0
        while not (stop.is_set() and not self.waiting):
            if self.waiting:
                horizon = await self.poll(horizon)
            await asyncio.sleep(DB_POLL)

    async def poll(self, horizon: int) -> int:
        """Ask the API about each partner one of whose awaited invoices shows its change in a row written
        since `horizon` (or awaited since the last poll); returns the horizon for the next poll."""
        fresh, self._fresh = list(self._fresh), set()
        rows = await self.db.fetch(CHANGED_ROWS, horizon, fresh)
        for row in rows:
            awaited = self.waiting.get(row["id"]) if row["id"] else None
            if awaited and any(c.seq <= doc_seq(row["doc_number"]) for c in awaited):
                self._ask(row["partner_id"])
        return int(rows[0]["horizon"])

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*(c.aclose() for c in self._clients.values()))

    def _ask(self, pid: str) -> None:
        if pid in self._asking:
            self._again.add(pid)  # changed again while a read was under way: read once more after it
            return
        self._asking.add(pid)
        task = asyncio.create_task(self._read(pid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, pid: str) -> None:
        try:
            while True:
                self._again.discard(pid)
                items = await self._invoices(pid)
                seen = time.perf_counter()
                for item in items:
                    shown = doc_seq(item.doc_number)
                    awaited = self.waiting.get(item.id)
                    if not awaited:
                        continue
                    for c in [c for c in awaited if c.seq <= shown]:
                        c.visible_after = seen - c.t0
                        awaited.remove(c)
                        self.done.append(c)
                    if not awaited:
                        del self.waiting[item.id]
                if pid not in self._again:
                    return
        finally:
            self._asking.discard(pid)

    async def _invoices(self, pid: str) -> list[_Shown]:
        """`GET /partners/{pid}/invoices`, every page (bench.common.list_all, lighter)."""
        url, items, cursor = self._urls[pid], list[_Shown](), None
        while True:
            resp = await self._get(pid, url.copy_merge_params({"cursor": cursor}) if cursor else url)
            resp.raise_for_status()
            page = INVOICE_PAGE.decode(resp.content)
            items += page.items
            if not (cursor := page.next_cursor):
                return items

    async def _get(self, pid: str, url: httpx.URL) -> httpx.Response:
        """A GET that survives one keep-alive race: the API (uvicorn) closes a connection idle for 5 s just
        as it is reused ("Server disconnected without sending a response"), which used to end this partner's
        read with the change unseen. The time of the second request counts: the change is not yet seen."""
        try:
            return await self._clients[pid].get(url)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            return await self._clients[pid].get(url)
