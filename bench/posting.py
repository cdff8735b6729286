"""Posting: platform payments on QBO-sourced open invoices, then payouts with deposits on.

One partner, SYNC_INTERVAL_SECONDS=3600 (only the API's `sync_now` nudges run cycles), deposits turned on
through `PUT /partners/{pid}/qbo/preferences`. The clock starts before the first `POST .../payments`
(8 in flight at a time), payouts are created over the payments right after (fee 0.50 each), and it stops
when every payment is `posted` and every payout `deposited` (polled every 0.25 s through the API).
QBO calls are the emulator's count for the realm over that span; `qbo_calls` leaves out the sync cycles'
own reads (CDC and Invoice/Customer/Account queries; all listed under `qbo_calls_by_operation`).
"""

from __future__ import annotations

import asyncio
import math
import time

from bench.common import list_all, running_stack, wait_for, write_result

NAME = "posting"
SIZES = {"small": (100, 5), "full": (1000, 30)}
IN_FLIGHT = 8
SYNC_ENTITIES = ("Invoice", "Customer", "Account")  # the cycles' own reads of what changed, not posting


async def run(size: str) -> dict:
    n_payments, n_payouts = SIZES[size]
    async with running_stack(NAME, env={"SYNC_INTERVAL_SECONDS": "3600"}) as bench:
        realm = await bench.company(customers=200, invoices=n_payments + 50)
        pid = await bench.connect(realm)
        status = await bench.wait_active(pid, within=180)
        bank = next(a for a in status["accounts"] if a["type"] == "Bank")
        prefs = {
            **status["preferences"],
            "create_deposits": True,
            "deposit_account_id": bank["id"],
            "fee_account_id": None,
        }
        (await bench.api.put(f"/partners/{pid}/qbo/preferences", json=prefs)).raise_for_status()
        invoices = [
            i
            for i in await list_all(bench.api, f"/partners/{pid}/invoices")
            if i["source"] == "qbo" and i["status"] in ("open", "partially_paid") and float(i["balance"]) >= 1
        ]
        assert len(invoices) >= n_payments, f"only {len(invoices)} open QBO invoices"
        await wait_for(
            lambda: _idle(bench, pid), within=120, what="the preferences cycle to finish", every=0.5
        )
        await bench.reset_calls(realm)

        gate = asyncio.Semaphore(IN_FLIGHT)

        async def pay(n: int) -> str:
            async with gate:
                resp = await bench.api.post(
                    f"/partners/{pid}/invoices/{invoices[n]['id']}/payments",
                    json={"amount": "1.00", "reference": f"bench-{n}"},
                )
                resp.raise_for_status()
                return resp.json()["id"]

        t0 = time.perf_counter()
        ids = await asyncio.gather(*(pay(n) for n in range(n_payments)))
        created_payments = time.perf_counter() - t0
        per = math.ceil(n_payments / n_payouts)
        for k in range(n_payouts):
            resp = await bench.api.post(
                f"/partners/{pid}/payouts",
                json={"payment_ids": ids[k * per : (k + 1) * per], "fee_amount": "0.50"},
            )
            resp.raise_for_status()
        created_all = time.perf_counter() - t0

        async def settled() -> bool:
            payments = await list_all(bench.api, f"/partners/{pid}/payments")
            payouts = await list_all(bench.api, f"/partners/{pid}/payouts")
            stuck = [p for p in payments + payouts if p["status"] in ("needs_attention", "not_synced")]
            if stuck:
                raise RuntimeError(f"{len(stuck)} payments/payouts need attention: {stuck[0]}")
            return all(p["status"] == "posted" for p in payments) and all(
                p["status"] == "deposited" for p in payouts
            )

        await wait_for(settled, within=900, what="every payment posted and payout deposited", every=0.25)
        seconds = time.perf_counter() - t0
        calls = await bench.qbo_calls(realm)
    by_op = calls["by_operation"]
    by_entity = calls["by_entity_operation"]
    sync_calls = by_op.get("cdc", 0) + sum(by_entity.get(f"query:{e}", 0) for e in SYNC_ENTITIES)
    posting_calls = calls["total"] - sync_calls
    return write_result(
        NAME,
        size,
        {
            "payments": n_payments,
            "payouts": n_payouts,
            "seconds": round(seconds, 2),
            "qbo_calls": posting_calls,
            "qbo_calls_min": math.ceil(n_payments / 30) + n_payouts,
            "qbo_calls_total": calls["total"],
            "qbo_calls_by_operation": by_op,
            "qbo_calls_by_entity_operation": calls["by_entity_operation"],
            "batch_items": calls["batch_items"],
            "create_payments_seconds": round(created_payments, 2),
            "create_all_seconds": round(created_all, 2),
            "notes": (
                "Clock: first POST payment → all posted and deposited. Payments are created through the API "
                f"({IN_FLIGHT} in flight), each nudging sync_now, so cycles start while payments still arrive "
                "and a cycle may post a partial batch: batch count depends on arrival vs cycle speed. "
                "qbo_calls excludes the sync cycles' own reads (CDC, and the Invoice/Customer/Account queries "
                "that follow the CDC of invoices changed by the payments)."
            ),
        },
    )


async def _idle(bench, pid: str) -> bool:
    body = await bench.status(pid)
    return body.get("step") == "idle" and not body.get("pending_postings")
