"""Reconciliation (PRODUCT.md §6): the platform against QBO, as a run inside the partner's workflow.

`POST /partners/{pid}/qbo/reconciliation` requests a run; the workflow's next cycle runs
`ReconcileActivities.run_reconciliation`; `GET …/reconciliation` answers the latest run from PostgreSQL.
It used to be read live inside one HTTP request, one Deposit read per payout: 20,000 payouts were ~40
minutes of QBO's 500 calls a minute, with the partner's postings meeting 429s meanwhile. Now every check
pages through the platform's rows 1,000 at a time (store/reconcile_repo.py) with one `Id IN (…)` query per
page (qbo-reference §3), so a run costs about one call per 1,000 records, goes through the realm's limiter
like every other call, and heartbeats per page.

What is checked:
- invoices: each QBO-sourced invoice's balance and status against QBO now, by the sync's own rule
  (`derive_balance_status`: platform balance = QBO Balance − platform payments not yet in QBO);
- payments: each posted payment's QBO Payment still exists, with its amount, applied to its invoice
  (`rules.own_postings`, the rule the sync uses);
- payouts: each deposited payout's Deposit exists and totals the net (payments − refunds − fees);
- refunds: each refund booked as a RefundReceipt has it in QBO for its amount, in its invoice's currency at
  its rate (a refund booked against its payment is checked with the payment: its QBO Payment must hold the
  amount less those refunds, or be void when refunded in full; docs/refunds.md);
- Deposits carrying our memo that no payout records (a duplicate, or one the platform lost track of);
- payments and payouts already flagged because a person changed them in QBO, counted until resolved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import asyncpg

from qbo.client import QboApi, QboCompany
from qbo.jsonio import dumps, loads
from qbo.models import Deposit, Invoice, Payment, QboObject
from qbo.query import MAX_PAGE
from rules.deposits import deposit_memo
from rules.invoices import derive_balance_status
from rules.own_postings import OwnPosting, decide_own_posting, parse_posting
from store import own_postings_repo as own_repo
from store import reconcile_repo as repo

PAGE = MAX_PAGE  # platform rows per page, and ids per `Id IN (…)` query
MAX_DETAILS = 200  # listed mismatches per run; the counts are always complete
OUR_MEMO = deposit_memo("")  # the prefix of every Deposit memo this service writes
Row = asyncpg.Record


class ProgressCallback(Protocol):
    def __call__(self, *details: object) -> None: ...


def _no_progress(*details: object) -> None:
    """Outside an activity (the CLI, tests) nobody listens for progress."""


MISMATCH_KEYS = ("invoice_mismatches", "deposit_mismatches", "payment_mismatches", "unknown_deposits",
                 "refund_mismatches")


async def reconcile(pool: asyncpg.Pool, qbo: QboApi, partner_id: str,
                    progress: ProgressCallback = _no_progress) -> dict[str, Any]:
    """The report of one reconciliation, read now (also `python -m starter reconcile PID`). `progress` is
    called after each page (the activity passes its heartbeat, so a dead worker is noticed per page)."""
    run = _Run(pool, qbo.company(partner_id), partner_id, progress)
    await run.pages("invoices", repo.invoices_page, run.invoices)
    await run.pages("payments", repo.posted_payments_page, run.payments)
    await run.pages("payouts", repo.deposited_payouts_page, run.payouts)
    await run.pages("refunds", repo.receipt_refunds_page, run.refunds)
    await run.unknown_deposits()
    changed = await own_repo.changed_postings(pool, partner_id)
    for r in changed:
        run.found({"kind": "changed_in_qbo", "entity": r["kind"], "id": r["id"], "qbo_id": r["qbo_id"],
                   "problem": r["attention_reason"], "change": r["qbo_change"]})
    kinds = run.kinds
    return {
        "invoices_checked": run.checked["invoices"], "invoice_mismatches": kinds["invoice"],
        "payouts_checked": run.checked["payouts"], "deposit_mismatches": kinds["payout"],
        "payments_checked": run.checked["payments"], "payment_mismatches": kinds["payment"],
        "unknown_deposits": kinds["unknown_deposit"],
        "refunds_checked": run.checked["refunds"], "refund_mismatches": kinds["refund"],
        "payments_changed_in_qbo": sum(1 for r in changed if r["kind"] == "payment"),
        "payouts_changed_in_qbo": sum(1 for r in changed if r["kind"] == "payout"),
        "qbo_calls": run.calls, "details": run.details, "details_truncated": sum(kinds.values()) > len(run.details),
    }


class _Run:
    """One reconciliation's counters and capped details; each check sees one page at a time."""

    def __init__(self, pool: asyncpg.Pool, company: QboCompany, partner_id: str, progress: ProgressCallback) -> None:
        self.pool, self.company, self.partner_id = pool, company, partner_id
        self.progress = progress
        self.checked = {"invoices": 0, "payments": 0, "payouts": 0, "refunds": 0}
        self.details: list[dict[str, Any]] = []
        self.kinds: Counter[str] = Counter()
        self.calls = 0

    def found(self, detail: dict[str, Any]) -> None:
        self.kinds[detail["kind"]] += 1
        if len(self.details) < MAX_DETAILS:
            self.details.append(detail)

    async def pages(self, what: str, read: Callable[..., Awaitable[list[Row]]],
                    check: Callable[[list[Row]], Awaitable[None]]) -> None:
        after = ""
        while rows := await read(self.pool, self.partner_id, after, PAGE):
            await check(rows)
            self.checked[what] += len(rows)
            after = rows[-1]["id"]
            self.progress(what, self.checked[what])

    async def live(self, entity: str, ids: Sequence[str]) -> dict[str, QboObject]:
        if not ids:
            return {}
        self.calls += 1
        return {o.Id: o for o in await self.company.find(entity, [("Id", "IN", sorted(set(ids)))])}

    async def invoices(self, rows: list[Row]) -> None:
        live = await self.live("Invoice", [r["qbo_id"] for r in rows if not r["qbo_deleted"]])
        for row in rows:
            if row["qbo_deleted"]:
                continue  # archived with its history; nothing in QBO to compare with
            base = {"kind": "invoice", "id": row["id"], "qbo_id": row["qbo_id"]}
            inv = live.get(row["qbo_id"])
            if not isinstance(inv, Invoice):
                self.found({**base, "problem": "invoice not found in QBO (deleted?)"})
                continue
            expected = derive_balance_status(
                qbo_total=inv.TotalAmt or Decimal("0"), qbo_balance=inv.Balance or Decimal("0"),
                unposted=row["unposted"], voided=inv.is_voided)
            currency = _currency_problem(row, inv)
            if currency:
                self.found({**base, "problem": currency})
            if expected.balance != row["balance"] or expected.status.value != row["status"]:
                self.found({**base, "problem": "balance or status differs",
                            "platform": {"balance": str(row["balance"]), "status": row["status"]},
                            "qbo": {"balance": str(inv.Balance), "total": str(inv.TotalAmt),
                                    "expected_platform_balance": str(expected.balance),
                                    "expected_status": expected.status.value}})

    async def payments(self, rows: list[Row]) -> None:
        """Posted payments whose QBO Payment is gone, voided, or no longer carries the platform amount."""
        live = await self.live("Payment", [r["qbo_payment_id"] for r in rows])
        for row in rows:
            ours = OwnPosting(entity="Payment", platform_id=row["id"], qbo_id=row["qbo_payment_id"],
                              amount=row["amount"], invoice_qbo_id=row["invoice_qbo_id"],
                              invoice_closed=row["invoice_closed"])
            found = live.get(ours.qbo_id)
            seen = parse_posting(loads(dumps(found.wire())) if isinstance(found, Payment) else
                                 {"status": "Deleted", "Id": ours.qbo_id}, "Payment")
            decision = decide_own_posting(ours, seen)
            if decision.change is not None:
                self.found({"kind": "payment", "id": row["id"], "qbo_id": ours.qbo_id,
                            "change": decision.change.value, "problem": decision.reason})

    async def payouts(self, rows: list[Row]) -> None:
        live = await self.live("Deposit", [r["qbo_deposit_id"] for r in rows if r["qbo_deposit_id"]])
        for row in rows:
            base = {"kind": "payout", "id": row["id"], "qbo_deposit_id": row["qbo_deposit_id"]}
            dep = live.get(row["qbo_deposit_id"] or "")
            if not row["qbo_deposit_id"]:
                self.found({**base, "problem": "deposited payout without a QBO Deposit id"})
            elif not isinstance(dep, Deposit):
                self.found({**base, "problem": "Deposit not found in QBO"})
            elif dep.TotalAmt != row["net_amount"]:
                self.found({**base, "problem": "Deposit TotalAmt differs from the net payout",
                            "platform": str(row["net_amount"]), "qbo": str(dep.TotalAmt)})
            elif row["currency"] and dep.CurrencyRef and dep.CurrencyRef.value != row["currency"].strip():
                self.found({**base, "problem": "Deposit currency differs from the payout's",
                            "platform": row["currency"].strip(), "qbo": dep.CurrencyRef.value})

    async def refunds(self, rows: list[Row]) -> None:
        """Refunds booked as RefundReceipts: the receipt is in QBO, for the refund's amount, in its invoice's
        currency at its rate (docs/refunds.md "Foreign currency": a receipt at QBO's default rate 1 is wrong)."""
        live = await self.live("RefundReceipt", [r["qbo_refund_receipt_id"] for r in rows])
        for row in rows:
            found = live.get(row["qbo_refund_receipt_id"])
            wire = found.wire() if found is not None else {}
            total = wire.get("TotalAmt")
            problem = "RefundReceipt not found in QBO" if found is None else (
                f"RefundReceipt TotalAmt {total} differs from the refund's {row['amount']}"
                if Decimal(str(total)) != row["amount"] else _receipt_currency_problem(row, wire))
            if problem:
                self.found({"kind": "refund", "id": row["id"], "qbo_id": row["qbo_refund_receipt_id"],
                            "problem": problem})

    async def unknown_deposits(self) -> None:
        """Deposits in QBO carrying our memo that no payout records: one page of QBO Deposits at a time."""
        async for page in self.company.query_pages("Deposit"):
            self.calls += 1
            ours = {d.Id: d for d in page.items
                    if isinstance(d, Deposit) and (d.PrivateNote or "").startswith(OUR_MEMO)}
            known = await repo.known_deposit_ids(self.pool, self.partner_id, list(ours)) if ours else set()
            for qbo_id in sorted(set(ours) - known, key=lambda i: (len(i), i)):
                self.found({"kind": "unknown_deposit", "qbo_deposit_id": qbo_id, "memo": ours[qbo_id].PrivateNote,
                            "total": str(ours[qbo_id].TotalAmt),
                            "problem": "a Deposit carrying our memo that no payout records (a duplicate?)"})
            self.progress("deposits", page.start_position)


def _currency_problem(row: Row, inv: Invoice) -> str | None:
    """The invoice's currency and ExchangeRate as QBO has them now against the platform's (docs/currency.md):
    a Payment is posted in the invoice's currency at its rate, so both must agree. A missing CurrencyRef is
    the home currency (qbo-reference §15.5)."""
    home = row["home_currency"].strip()
    qbo_currency = inv.CurrencyRef.value if inv.CurrencyRef else home
    ours = row["currency"].strip()
    if qbo_currency != ours:
        return f"currency differs: platform {ours}, QBO {qbo_currency}"
    if ours != home and inv.ExchangeRate is not None and row["exchange_rate"] != inv.ExchangeRate:
        return f"exchange rate differs: platform {row['exchange_rate']}, QBO {inv.ExchangeRate}"
    return None


def _receipt_currency_problem(row: Row, receipt: dict[str, Any]) -> str | None:
    """A RefundReceipt is in its invoice's currency at the invoice's rate (rules.refunds.receipt_currency)."""
    home = row["home_currency"].strip()
    ours = (row["currency"] or home).strip()
    qbo_currency = (receipt.get("CurrencyRef") or {}).get("value") or home
    if qbo_currency != ours:
        return f"RefundReceipt currency differs: platform {ours}, QBO {qbo_currency}"
    rate = receipt.get("ExchangeRate")
    if ours != home and row["exchange_rate"] is not None and (rate is None or Decimal(str(rate)) != row["exchange_rate"]):
        return f"RefundReceipt exchange rate differs: the invoice's {row['exchange_rate']}, QBO {rate}"
    return None
