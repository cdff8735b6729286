"""Reconciliation (PRODUCT §6 `GET /partners/{pid}/qbo/reconciliation`, `python -m starter reconcile PID`):
the platform against QBO, read live.

Invoices: every QBO-sourced invoice's platform balance and status against what QBO says now, using the
sync's own rule (`derive_balance_status`: platform balance = QBO Balance − platform payments not yet in
QBO). Payouts: every deposited payout's Deposit must exist and its TotalAmt equal the net payout. Payments:
every posted payment's QBO Payment must still exist with its amount, applied to its invoice (`Id IN (…)`,
≤ 1000 per query; the same rule the sync uses, `rules.own_postings`). Payments and payouts already flagged
because a person changed them in QBO (`qbo_change`) are counted and listed until someone resolves them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from qbo import query as q
from qbo.client import QboCompany
from qbo.errors import QboNotFound
from qbo.jsonio import dumps, loads
from qbo.models import Deposit, Invoice, Payment
from rules.invoices import derive_balance_status
from rules.own_postings import OwnPosting, decide_own_posting, parse_posting
from store import own_postings_repo as own_repo
from store import posting_repo as repo


async def reconcile(pool: Any, qbo: Any, partner_id: str) -> dict[str, Any]:
    company = qbo.company(partner_id)
    details: list[dict[str, Any]] = []
    invoices = await repo.qbo_invoices_for_reconcile(pool, partner_id)
    details += await _invoice_mismatches(company, invoices)
    payouts = await repo.deposited_payouts(pool, partner_id)
    details += await _deposit_mismatches(company, payouts)
    posted = await repo.posted_payments(pool, partner_id)
    details += await _payment_mismatches(company, posted)
    changed = await own_repo.changed_postings(pool, partner_id)
    details += [{"kind": "changed_in_qbo", "entity": r["kind"], "id": r["id"], "qbo_id": r["qbo_id"],
                 "problem": r["attention_reason"], "change": r["qbo_change"]} for r in changed]
    return {
        "invoices_checked": len(invoices),
        "invoice_mismatches": sum(1 for d in details if d["kind"] == "invoice"),
        "payouts_checked": len(payouts),
        "deposit_mismatches": sum(1 for d in details if d["kind"] == "payout"),
        "payments_checked": len(posted),
        "payment_mismatches": sum(1 for d in details if d["kind"] == "payment"),
        "payments_changed_in_qbo": sum(1 for r in changed if r["kind"] == "payment"),
        "payouts_changed_in_qbo": sum(1 for r in changed if r["kind"] == "payout"),
        "details": details,
    }


async def _live_invoices(company: QboCompany, ids: list[str]) -> dict[str, Invoice]:
    out: dict[str, Invoice] = {}
    for start in range(0, len(ids), q.MAX_PAGE):
        found = await company.find("Invoice", [("Id", "IN", ids[start:start + q.MAX_PAGE])])
        out.update({o.Id: o for o in found if isinstance(o, Invoice)})
    return out


async def _invoice_mismatches(company: QboCompany, rows: list[Any]) -> list[dict[str, Any]]:
    live = await _live_invoices(company, sorted({r["qbo_id"] for r in rows if not r["qbo_deleted"]}))
    out = []
    for row in rows:
        inv = live.get(row["qbo_id"])
        base = {"kind": "invoice", "id": row["id"], "qbo_id": row["qbo_id"]}
        if row["qbo_deleted"]:
            continue  # archived with its history; nothing in QBO to compare with
        if inv is None:
            out.append({**base, "problem": "invoice not found in QBO (deleted?)"})
            continue
        expected = derive_balance_status(
            qbo_total=inv.TotalAmt or Decimal("0"), qbo_balance=inv.Balance or Decimal("0"),
            unposted=repo.money(row["unposted"]), voided=inv.is_voided)
        if expected.balance != row["balance"] or expected.status.value != row["status"]:
            out.append({**base, "problem": "balance or status differs",
                        "platform": {"balance": str(row["balance"]), "status": row["status"]},
                        "qbo": {"balance": str(inv.Balance), "total": str(inv.TotalAmt),
                                "expected_platform_balance": str(expected.balance),
                                "expected_status": expected.status.value}})
    return out


async def _deposit_mismatches(company: QboCompany, rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        base = {"kind": "payout", "id": row["id"], "qbo_deposit_id": row["qbo_deposit_id"]}
        if not row["qbo_deposit_id"]:
            out.append({**base, "problem": "deposited payout without a QBO Deposit id"})
            continue
        try:
            dep = await company.read("Deposit", row["qbo_deposit_id"])
        except QboNotFound:
            dep = None
        if not isinstance(dep, Deposit) or dep.status == "Deleted":
            out.append({**base, "problem": "Deposit not found in QBO"})
        elif dep.TotalAmt != row["net_amount"]:
            out.append({**base, "problem": "Deposit TotalAmt differs from the net payout",
                        "platform": str(row["net_amount"]), "qbo": str(dep.TotalAmt)})
    return out


async def _payment_mismatches(company: QboCompany, rows: list[Any]) -> list[dict[str, Any]]:
    """Posted payments whose QBO Payment is gone, voided, or no longer carries the platform amount."""
    ids = [r["qbo_payment_id"] for r in rows]
    live: dict[str, Payment] = {}
    for start in range(0, len(ids), q.MAX_PAGE):
        found = await company.find("Payment", [("Id", "IN", ids[start:start + q.MAX_PAGE])])
        live.update({o.Id: o for o in found if isinstance(o, Payment)})
    out = []
    for row in rows:
        ours = OwnPosting(entity="Payment", platform_id=row["id"], qbo_id=row["qbo_payment_id"],
                          amount=row["amount"], invoice_qbo_id=row["invoice_qbo_id"],
                          invoice_closed=row["invoice_closed"])
        found = live.get(ours.qbo_id)
        seen = parse_posting(loads(dumps(found.wire())) if found is not None else
                             {"status": "Deleted", "Id": ours.qbo_id}, "Payment")
        decision = decide_own_posting(ours, seen)
        if decision.change is not None:
            out.append({"kind": "payment", "id": row["id"], "qbo_id": ours.qbo_id, "change": decision.change.value,
                        "problem": decision.reason})
    return out
