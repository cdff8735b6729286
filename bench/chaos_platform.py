"""The chaos soak's platform traffic (bench/chaos.py): payments on open QBO invoices, refunds and chargebacks
of payments, and payouts of payments and refunds in no payout yet, through the service's API. Bounded in
time and count like every loop of the soak; errors are counted, never fatal (bench/chaos_actors.py)."""

from __future__ import annotations

import asyncio
import random
import time
from decimal import Decimal
from typing import Any

import httpx

from bench.chaos_actors import CENT, MAX_ACTIONS_PER_LOOP, ServiceApi, Tally, money


async def platform_traffic(api: ServiceApi, pid: str, rng: random.Random, until: float, tally: Tally) -> None:
    """Payments on open QBO invoices (partial or whole), refunds and chargebacks of payments (partial or
    whole, before or after they reach QBO or a Deposit), and payouts of payments and refunds in no payout yet."""
    for _ in range(MAX_ACTIONS_PER_LOOP):
        if time.monotonic() >= until:
            return
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        try:
            pick = rng.random()
            if pick < 0.62:
                await _pay(api, pid, rng, tally)
            elif pick < 0.77:
                await _refund(api, pid, rng, tally)
            else:
                await _payout(api, pid, rng, tally)
        except httpx.HTTPStatusError as exc:
            tally.failed(f"api {exc.response.status_code}")
        except httpx.TransportError as exc:
            tally.failed(f"api {type(exc).__name__}")


async def _pay(api: ServiceApi, pid: str, rng: random.Random, tally: Tally) -> None:
    invoices = [i for i in await api.all(f"/partners/{pid}/invoices")
                if i["source"] == "qbo" and money(i["balance"]) > 0 and i["status"] in ("open", "partially_paid")]
    if not invoices:
        return
    inv = rng.choice(invoices)
    balance = money(inv["balance"])
    amount = balance if rng.random() < 0.25 else min(balance, money(rng.uniform(1, 50)))
    await api.ok("POST", f"/partners/{pid}/invoices/{inv['id']}/payments", json={"amount": str(amount)})
    tally.did("platform_payment")


async def _refund(api: ServiceApi, pid: str, rng: random.Random, tally: Tally) -> None:
    """A refund or a chargeback of a payment, partial or of all that is left (PRODUCT.md §6)."""
    payments = [p for p in await api.all(f"/partners/{pid}/payments")
                if p["status"] in ("pending", "posted") and money(p["amount"]) > money(p["refunded_amount"])]
    if not payments:
        return
    p = rng.choice(payments)
    left = money(p["amount"]) - money(p["refunded_amount"])
    amount = left if rng.random() < 0.3 else min(left, money(rng.uniform(1, 20)))
    kind = "chargeback" if rng.random() < 0.3 else "refund"
    await api.ok("POST", f"/partners/{pid}/payments/{p['id']}/refunds",
                 json={"amount": str(amount), "kind": kind, "reason": "chaos"})
    tally.did(f"platform_{kind}")


async def _payout(api: ServiceApi, pid: str, rng: random.Random, tally: Tally) -> None:
    payments = await api.all(f"/partners/{pid}/payments")
    free = [p for p in payments if p["payout_id"] is None and p["status"] in ("pending", "posted")]
    if not free:
        return
    chosen = rng.sample(free, k=min(len(free), rng.randint(1, 4)))
    gross = sum(money(p["amount"]) for p in chosen)
    # refunds and chargebacks the processor takes out of this payout, while the net stays positive
    open_refunds = [r for p in payments for r in p["refunds"] if r["payout_id"] is None]
    refunds: list[dict[str, Any]] = []
    for r in rng.sample(open_refunds, k=min(len(open_refunds), rng.randint(0, 3))):
        if sum(money(x["amount"]) for x in refunds) + money(r["amount"]) < gross * Decimal("0.9"):
            refunds.append(r)
    refunded = sum((money(r["amount"]) for r in refunds), Decimal(0))
    chargeback_fees = Decimal("1.50") * sum(1 for r in refunds if r["kind"] == "chargeback")  # fees, like any fee
    fee = max(min(gross - refunded - CENT, money(gross * Decimal("0.03")) + chargeback_fees), Decimal(0))
    await api.ok("POST", f"/partners/{pid}/payouts",
                 json={"payment_ids": [p["id"] for p in chosen], "refund_ids": [r["id"] for r in refunds],
                       "fee_amount": str(fee)})
    tally.did("platform_payout")
    if refunds:
        tally.did("platform_payout_with_refunds")
