"""Webhook latency: a bookkeeper edits an invoice in QBO; how long until the platform API shows it.

One partner, SYNC_INTERVAL_SECONDS=3600 so only the webhook can trigger the sync. The emulator sends
signed CloudEvents webhooks to the API's `POST /webhooks/qbo`. For each change, one at a time: read the
invoice (for its SyncToken, not timed), then start the clock, sparse-update its DocNumber through the
Accounting API, and poll `GET /partners/{pid}/invoices` every 20 ms until the new DocNumber shows.
The path timed: QBO write → webhook delivery → API stores the event and signals `sync_now` → workflow
task → `fetch_changes` (one CDC call) → `apply_staged` → platform row visible through the API.
"""

from __future__ import annotations

import time

import httpx

from bench.common import list_all, percentile, running_stack, wait_for, write_result

NAME = "webhook_latency"
SIZES = {"small": 30, "full": 200}
POLL = 0.02


async def run(size: str) -> dict:
    changes = SIZES[size]
    latencies: list[float] = []
    async with running_stack(NAME, env={"SYNC_INTERVAL_SECONDS": "3600"}) as bench:
        realm = await bench.company(customers=20, invoices=50)
        pid = await bench.connect(realm)
        await bench.wait_active(pid, within=120)
        await bench.webhooks_to_api()
        invoices = [i for i in await list_all(bench.api, f"/partners/{pid}/invoices") if i["qbo_id"]]
        token = await bench.bookkeeper_token(realm)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        base = f"/v3/company/{realm}"
        async with httpx.AsyncClient(base_url=bench.stack.emulator_url, headers=headers, timeout=30) as qbo:
            for n in range(changes):
                invoice = invoices[n % len(invoices)]
                current = await qbo.get(f"{base}/invoice/{invoice['qbo_id']}", params={"minorversion": "75"})
                current.raise_for_status()
                sync_token = current.json()["Invoice"]["SyncToken"]
                doc = f"WH-{n:05d}"
                t0 = time.perf_counter()
                resp = await qbo.post(
                    f"{base}/invoice",
                    params={"minorversion": "75"},
                    json={"Id": invoice["qbo_id"], "SyncToken": sync_token, "sparse": True, "DocNumber": doc},
                )
                resp.raise_for_status()

                async def visible(iid: str = invoice["id"], doc: str = doc) -> bool:
                    rows = await list_all(bench.api, f"/partners/{pid}/invoices")
                    return any(r["id"] == iid and r["doc_number"] == doc for r in rows)

                await wait_for(visible, within=60, what=f"change {n} in the platform API", every=POLL)
                latencies.append(time.perf_counter() - t0)
        deliveries = (await bench.emu.get("/_emulator/webhooks/deliveries")).json()["deliveries"]
    ms = [x * 1000 for x in latencies]
    return write_result(
        NAME,
        size,
        {
            "changes": changes,
            "p50_ms": round(percentile(ms, 50)),
            "p99_ms": round(percentile(ms, 99)),
            "max_ms": round(max(ms)),
            "min_ms": round(min(ms)),
            "webhook_deliveries": len(deliveries),
            "failed_deliveries": sum(1 for d in deliveries if not d["ok"]),
            "notes": (
                "Sequential changes (one in flight); clock from just before the QBO sparse update to the first "
                f"API poll (every {POLL * 1000:.0f} ms) that shows it, so figures include up to one poll "
                "interval. Sync interval 3600 s: every change arrived by webhook → sync_now."
            ),
        },
    )
