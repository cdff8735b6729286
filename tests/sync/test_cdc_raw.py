"""The cycle's CDC read stages each object as the JSON text QBO sent (qbo/pages.py, issue 15 §4): amounts to
the last digit, tombstones as deletes, and an object staging can't identify refused before anything is
staged. Real PostgreSQL, the emulator over HTTP, the activities in ActivityEnvironment."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from activities.sync import SyncActivities
from qbo.jsonio import dumps, loads
from store import sync_repo
from tests.sync.conftest import Synced

# 18 significant digits, the most numeric(18, 2) holds: a float keeps ~16 (1234567890123456.8).
BIG = "1234567890123456.78"


async def _staged(s: Synced, entity: str, qbo_id: str) -> list[dict]:
    rows = await s.pool.fetch(
        "SELECT sync_token, deleted, payload::text AS payload, payload->>'TotalAmt' AS total FROM qbo_staging "
        "WHERE partner_id = $1 AND entity = $2 AND qbo_id = $3 ORDER BY sync_token", s.partner_id, entity, qbo_id)
    return [dict(r) for r in rows]


async def test_a_cdc_answer_is_staged_as_qbo_sent_it(synced: Synced) -> None:
    """An invoice whose amount has more digits than a float keeps, and a deleted invoice, in one CDC answer:
    the amount is staged and applied to the cent, the tombstone is staged as a delete and archives the row."""
    await synced.cycle()
    big = synced.books.invoice("1", BIG)
    assert big["TotalAmt"] == Decimal(BIG)
    gone = synced.books.read("Invoice", "2")
    deleted = synced.books.post("/invoice", {"Id": "2", "SyncToken": gone["SyncToken"]}, operation="delete")
    assert deleted.status_code == 200, deleted.text
    fetch = await synced.fetch()
    assert fetch.staged == 2
    (new,) = await _staged(synced, "Invoice", big["Id"])
    assert new["total"] == BIG and (new["sync_token"], new["deleted"]) == (int(big["SyncToken"]), False)
    assert loads(new["payload"])["TotalAmt"] == Decimal(BIG)
    (tomb,) = await _staged(synced, "Invoice", "2")
    assert (tomb["sync_token"], tomb["deleted"]) == (sync_repo.TOMBSTONE_TOKEN, True)
    assert loads(tomb["payload"])["status"] == "Deleted"
    summary = await synced.apply(fetch.sync_run_id)
    assert (summary.created, summary.archived, summary.remaining) == (1, 1, 0)
    row = await synced.invoice(big["Id"])
    assert row["amount"] == Decimal(BIG) and row["qbo_total"] == Decimal(BIG)
    assert (await synced.invoice("2"))["qbo_deleted"] is True


async def test_the_overlap_stages_only_what_the_platform_lacks(synced: Synced) -> None:
    """The next answer re-reads what the last cycle applied (CDC_OVERLAP, qbo-reference §4): a created
    invoice, tombstones and an edited invoice are known and not staged; a newer edit and a
    tombstone the platform has not seen (its row gone) are."""
    await synced.cycle()
    created = synced.books.invoice("1", "5.00")
    for qbo_id in ("2", "3"):
        old = synced.books.read("Invoice", qbo_id)
        assert synced.books.post("/invoice", {"Id": qbo_id, "SyncToken": old["SyncToken"]},
                                 operation="delete").status_code == 200
    edited = synced.books.update("Invoice", {**synced.books.read("Invoice", "4"), "DocNumber": "X-4", "sparse": True})
    fetch, summary = await synced.cycle()
    assert (fetch.staged, summary.created, summary.archived, summary.updated) == (4, 1, 2, 1)
    # The platform forgets invoice 3 (as if never seen) and invoice 5 changes in QBO: the same overlap again.
    await synced.pool.execute("DELETE FROM invoices WHERE partner_id = $1 AND qbo_id = '3'", synced.partner_id)
    again = synced.books.update("Invoice", {**synced.books.read("Invoice", "5"), "DocNumber": "X-5", "sparse": True})
    fetch = await synced.fetch()
    assert fetch.staged == 2
    staged = await synced.pool.fetch("SELECT qbo_id, sync_token, deleted FROM qbo_staging WHERE partner_id = $1 "
                                     "ORDER BY qbo_id", synced.partner_id)
    assert [tuple(r) for r in staged] == [("3", sync_repo.TOMBSTONE_TOKEN, True), ("5", int(again["SyncToken"]), False)]
    assert created["Id"] not in {r["qbo_id"] for r in staged} and edited["Id"] == "4"


class _NoSyncToken(httpx.AsyncHTTPTransport):
    """The emulator's CDC answers, with the SyncToken taken out of invoice `qbo_id` on the way (as a broken
    QBO could send it); every other request and answer unchanged."""

    def __init__(self, qbo_id: str) -> None:
        super().__init__()
        self.qbo_id = qbo_id

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if not request.url.path.endswith("/cdc") or response.status_code != 200:
            return response
        assert "content-encoding" not in response.headers
        data = loads(await response.aread())
        for qr in data["CDCResponse"][0]["QueryResponse"]:
            for obj in qr.get("Invoice", []):
                if obj["Id"] == self.qbo_id:
                    del obj["SyncToken"]
        return httpx.Response(200, headers={"content-type": "application/json"}, content=dumps(data).encode())


async def test_an_object_without_sync_token_fails_the_fetch_and_stages_nothing(synced: Synced, settings) -> None:
    """QBO answers an object staging can't identify: the fetch fails with a QboServerError naming the object
    (Temporal retries it), nothing of that answer is staged, the cursor stays, and the run says why."""
    from qbo.client import QboApi

    await synced.cycle()
    cursor = await synced.pool.fetchval("SELECT cdc_cursor FROM qbo_connections WHERE partner_id = $1",
                                        synced.partner_id)
    good = synced.books.invoice("1", "11.00")
    bad = synced.books.invoice("1", "22.00")
    broken = QboApi(settings, synced.pool, transport=_NoSyncToken(bad["Id"]))
    try:
        synced.acts = SyncActivities(synced.pool, broken)
        with pytest.raises(Exception) as failed:
            await synced.fetch()
    finally:
        await broken.aclose()
    assert "QboServerError" in f"{type(failed.value).__name__} {getattr(failed.value, 'type', '')}"
    assert f"QBO object '{bad['Id']}' has no usable SyncToken" in str(failed.value)
    assert await _staged(synced, "Invoice", good["Id"]) == []
    assert await synced.pool.fetchval("SELECT count(*) FROM qbo_staging WHERE partner_id = $1", synced.partner_id) == 0
    assert await synced.pool.fetchval("SELECT cdc_cursor FROM qbo_connections WHERE partner_id = $1",
                                      synced.partner_id) == cursor
    run = await synced.pool.fetchrow("SELECT status, error FROM sync_runs WHERE partner_id = $1 ORDER BY id DESC "
                                     "LIMIT 1", synced.partner_id)
    assert run["status"] == "failed" and "has no usable SyncToken" in run["error"], run["error"]
