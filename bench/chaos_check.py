"""After the soak: settle (faults off, every partner synced until nothing is pending) and check the
platform against the emulator's companies.

- duplicate_payments: standing QBO Payments sharing one of our PaymentRefNums (each extra one counts; a
  voided Payment, TotalAmt 0, keeps its PaymentRefNum but no longer stands).
- duplicate_deposits: QBO Deposits sharing a payout's memo (each extra one counts).
- missing_payments: platform payments that are neither `posted` (and found in QBO, same amount, under
  the recorded id) nor `not_synced`, nor `needs_attention` with a reason; plus QBO Payments carrying our
  PaymentRefNum for a payment the platform doesn't record as posted (the platform lost track of it), and
  voided ones unless the platform says its Payment was voided.
- invoice_mismatches / deposit_mismatches: the service's own reconciliation run per partner (platform vs QBO
  per §3, Deposit totals vs net payouts), plus payouts still pending (other than waiting for payments that
  need a person), deposited without exactly one matching Deposit, or with a Deposit in QBO while not
  `deposited`.
- changed_in_qbo: our postings QBO no longer holds as we made them (the Payment or Deposit under the
  recorded Id is gone, voided or of another amount): the truth about what the bookkeeper did, from QBO.
- changes_not_flagged: of those, the ones the platform does not show `needs_attention` with
  attention_code `changed_in_qbo` and the matching `qbo_change` (must be 0).
- flagged_not_changed: items flagged `changed_in_qbo` whose posting QBO still holds as made (must be 0).
- reposted: a payment or payout flagged deleted/voided in QBO that has a standing Payment / a Deposit in
  QBO again (must be 0: nothing is re-posted without a person).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.chaos_actors import Bookkeeper, ServiceApi, money, qbo_amount
from rules.deposits import deposit_memo
from rules.posting import payment_ref_num
from rules.refunds import refund_memo
from starter.partners import workflow_id

log = logging.getLogger("chaos")


async def settle(api: ServiceApi, pids: list[str], limit_seconds: float,
                 retry_now_at: str | None = None) -> tuple[float, list[str]]:
    """Nudge every partner until no payment or payout is pending, then wait for two full cycles that
    started after that (so the QBO-side changes of the soak are all synced). Returns the seconds it took
    and the partners whose workflow did not finish those cycles in time (stuck). `retry_now_at`: the
    Temporal address whose waiting activity retries are started at once meanwhile (`run`'s fast_recovery)."""
    t0 = time.monotonic()
    deadline = t0 + limit_seconds
    hurry = asyncio.create_task(_retry_backoffs_now(retry_now_at, pids)) if retry_now_at else None
    try:
        await asyncio.gather(*(_drain(api, pid, deadline) for pid in pids))
    finally:
        if hurry and hurry.done() and not hurry.cancelled() and hurry.exception():
            # Only slower, not wrong: the retries then come when their backoffs end.
            log.warning("could not start waiting retries at once: %r", hurry.exception())
        elif hurry:
            hurry.cancel()
    stuck: set[str] = set()
    for _ in range(2):
        mark = datetime.now(UTC)
        done = await asyncio.gather(*(_cycle_after(api, pid, mark, deadline) for pid in pids))
        stuck |= {pid for pid, ok in zip(pids, done, strict=True) if not ok}
    return time.monotonic() - t0, sorted(stuck)


async def _retry_backoffs_now(temporal_address: str, pids: list[str]) -> None:
    """Every 2 s: each partner workflow's activity that is waiting out a retry backoff (scheduled, its next
    attempt more than 2 s away) is reset, so Temporal starts that attempt now (ResetActivity, attempts
    counted from 1 again). Only the waiting changes: the attempt runs the same code, and a realm still in a
    worker's 429 cool-down fails it fast again into a backoff no longer than the cool-down. Local activities
    (the cycle's CDC fetch, workflows/policies.py `CDC_FETCH`) are not listed as pending and keep their
    backoff: settling waits for those as before."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import PendingActivityState
    from temporalio.api.workflowservice.v1 import ResetActivityRequest
    from temporalio.client import Client

    client = await Client.connect(temporal_address)
    while True:
        for pid in pids:
            handle = client.get_workflow_handle(workflow_id(pid))
            described = await handle.describe()
            soon = time.time() + 2
            for pending in described.raw_description.pending_activities:
                if (pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
                        and pending.HasField("next_attempt_schedule_time")
                        and pending.next_attempt_schedule_time.ToDatetime(UTC).timestamp() > soon):
                    await client.workflow_service.reset_activity(ResetActivityRequest(
                        namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id),
                        id=pending.activity_id, identity="chaos-settle"))
        await asyncio.sleep(2)


async def _drain(api: ServiceApi, pid: str, deadline: float) -> None:
    nudged = 0.0
    while True:
        payments = await api.all(f"/partners/{pid}/payments", deadline=deadline)
        payouts = await api.all(f"/partners/{pid}/payouts", deadline=deadline)
        by_id = {p["id"]: p for p in payments}
        if not any(p["status"] == "pending" for p in payments) and not any(
                r["status"] == "pending" and p["status"] != "needs_attention" for p in payments
                for r in p["refunds"]) and all(
                po["status"] != "pending" or waits_for_a_person(po, by_id) for po in payouts):
            return
        if time.monotonic() > deadline:
            return  # reported by the checks as missing payments / deposit mismatches
        if time.monotonic() - nudged > 10:
            await api.retry("POST", f"/partners/{pid}/qbo/sync", deadline=deadline)
            nudged = time.monotonic()
        await asyncio.sleep(1)


async def _cycle_after(api: ServiceApi, pid: str, mark: datetime, deadline: float) -> bool:
    """True once the partner's workflow finished a sync cycle after `mark`."""
    await api.retry("POST", f"/partners/{pid}/qbo/sync", deadline=deadline)
    nudged = time.monotonic()
    while time.monotonic() < deadline:
        status = await api.retry("GET", f"/partners/{pid}/qbo", deadline=deadline)
        last = status["last_synced_at"]
        if status["state"] == "active" and last and datetime.fromisoformat(last) > mark:
            return True
        if time.monotonic() - nudged > 10:
            await api.retry("POST", f"/partners/{pid}/qbo/sync", deadline=deadline)
            nudged = time.monotonic()
        await asyncio.sleep(0.5)
    return False


async def reconciliation(api: ServiceApi, pid: str, deadline: float) -> dict[str, Any]:
    """The service's own reconciliation: request a run (PRODUCT.md §6), wait for the workflow to finish it."""
    run_id = (await api.retry("POST", f"/partners/{pid}/qbo/reconciliation", deadline=deadline))["run_id"]
    while True:
        run = await api.retry("GET", f"/partners/{pid}/qbo/reconciliation", deadline=deadline)
        if run["run_id"] == run_id and run["status"] == "finished":
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"reconciliation run {run_id} of partner {pid} did not finish: {run}")
        await asyncio.sleep(0.5)


async def check_partner(api: ServiceApi, books: Bookkeeper, pid: str, deadline: float) -> dict[str, Any]:
    status = await api.retry("GET", f"/partners/{pid}/qbo", deadline=deadline)
    payments = await api.all(f"/partners/{pid}/payments", deadline=deadline)
    payouts = await api.all(f"/partners/{pid}/payouts", deadline=deadline)
    recon = await reconciliation(api, pid, deadline)
    invoices = await api.all(f"/partners/{pid}/invoices", include_archived="true", deadline=deadline)
    qbo_invoices = await books.query_all("Invoice")
    qbo_payments = await books.query_all("Payment")
    qbo_deposits = await books.query_all("Deposit")
    qbo_receipts = await books.query_all("RefundReceipt")
    details: list[dict[str, Any]] = [{"partner": pid, **d} for d in recon["details"]]
    moved = int(status["realm_id"] != books.realm)  # a wrong-company click that took (PRODUCT.md §5)
    if moved:
        details.append({"partner": pid, "kind": "wrong_company", "realm": status["realm_id"], "own": books.realm})
    invoice_problems = _invoice_problems(invoices, qbo_invoices, {p["invoice_id"] for p in payments})
    details += [{"partner": pid, "kind": "invoice", **d} for d in invoice_problems]

    refs = Counter(p.get("PaymentRefNum") for p in qbo_payments if p.get("PaymentRefNum") and not _voided(p))
    voided_refs = Counter(p.get("PaymentRefNum") for p in qbo_payments if p.get("PaymentRefNum") and _voided(p))
    ours = {payment_ref_num(p["id"]): p for p in payments}
    duplicate_payments = sum(n - 1 for ref, n in refs.items() if n > 1 and ref in ours)
    details += [{"partner": pid, "kind": "duplicate_payment", "ref": ref, "count": n}
                for ref, n in refs.items() if n > 1 and ref in ours]
    by_id = {p["Id"]: p for p in qbo_payments}
    changes = PostingChanges()

    missing = 0
    attention: Counter = Counter()
    for p in payments:
        for r in p["refunds"]:
            problem = _refund_problem(r, p)
            if problem:
                missing += 1
                details.append({"partner": pid, "kind": "missing_refund", "id": r["id"], "status": r["status"],
                                "problem": problem})
        truth = _payment_change(p, by_id)
        changes.judge("payment", p, truth, standing=refs.get(payment_ref_num(p["id"]), 0))
        problem = _payment_problem(p, by_id, refs, voided_refs)
        if p["status"] == "needs_attention" and not problem:
            attention[reason_kind(p["attention_reason"])] += 1
        if problem:
            missing += 1
            details.append({"partner": pid, "kind": "missing_payment", "id": p["id"], "status": p["status"],
                            "problem": problem})
    payments_by_id = {p["id"]: p for p in payments}
    deposits_by_id = {d["Id"]: d for d in qbo_deposits}

    deposits_by_memo: dict[str, list[dict]] = {}
    for d in qbo_deposits:
        deposits_by_memo.setdefault(d.get("PrivateNote") or "", []).append(d)
    duplicate_deposits = 0
    deposit_problems = 0
    for po in payouts:
        found = deposits_by_memo.get(deposit_memo(po["id"]), [])
        duplicate_deposits += max(0, len(found) - 1)
        changes.judge("payout", po, _deposit_change(po, deposits_by_id), standing=len(found))
        problem = _payout_problem(po, found, payments_by_id)
        if len(found) > 1:
            details.append({"partner": pid, "kind": "duplicate_deposit", "id": po["id"], "count": len(found)})
        if problem:
            deposit_problems += 1
            details.append({"partner": pid, "kind": "payout", "id": po["id"], "status": po["status"],
                            "problem": problem})
        if po["status"] == "needs_attention":
            attention["payout: " + reason_kind(po["attention_reason"])] += 1
        elif po["status"] == "pending" and not problem:
            attention["payout pending: waits for payments that need attention"] += 1
    details += [{"partner": pid, **d} for d in changes.details]
    duplicate_refunds, receipt_problems = _receipt_problems(payments, qbo_receipts)
    details += [{"partner": pid, **d} for d in receipt_problems]
    return {
        "payments": len(payments), "payouts": len(payouts),
        "qbo_payments": len(qbo_payments), "qbo_deposits": len(qbo_deposits),
        "duplicate_payments": duplicate_payments, "duplicate_deposits": duplicate_deposits,
        "duplicate_refunds": duplicate_refunds,
        "refunds": sum(len(p["refunds"]) for p in payments),
        "missing_payments": missing + sum(1 for d in receipt_problems if d["kind"] == "missing_refund"), "invoice_mismatches": recon["invoice_mismatches"] + len(invoice_problems),
        "deposit_mismatches": recon["deposit_mismatches"] + recon["unknown_deposits"] + deposit_problems,
        "invoices_checked": recon["invoices_checked"], "needs_attention": attention, "details": details,
        "changed_in_qbo": dict(changes.changed), "changes_not_flagged": changes.not_flagged, "moved": moved,
        "flagged_not_changed": changes.flagged_not_changed, "reposted": changes.reposted,
    }


class PostingChanges:
    """Our postings changed in QBO, judged item by item against what the platform shows (README "Postings
    changed in QuickBooks"): each must be flagged `changed_in_qbo` with the right `qbo_change`, nothing
    unchanged may be flagged, and a deleted or voided posting must not stand in QBO again."""

    def __init__(self) -> None:
        self.changed: Counter = Counter()  # "payment deleted" → n, the truth from QBO
        self.not_flagged = 0
        self.flagged_not_changed = 0
        self.reposted = 0
        self.details: list[dict[str, Any]] = []

    def judge(self, kind: str, item: dict, truth: str | None, *, standing: int) -> None:
        """`truth`: what QBO shows happened to the item's posting (None: unchanged or never made);
        `standing`: how many live QBO objects carry its key (PaymentRefNum / memo)."""
        flagged = item["status"] == "needs_attention" and item.get("attention_code") == "changed_in_qbo"
        note = {"kind": f"{kind}_changed_in_qbo", "id": item["id"], "status": item["status"],
                "qbo_change": item.get("qbo_change"), "qbo": truth}
        if truth is not None:
            self.changed[f"{kind} {truth}"] += 1
            if not flagged or item.get("qbo_change") != truth:
                self.not_flagged += 1
                self.details.append({**note, "problem": "changed in QBO, not flagged as such"})
        elif flagged:
            self.flagged_not_changed += 1
            self.details.append({**note, "problem": "flagged changed_in_qbo, but QBO holds it as made"})
        if flagged and item.get("qbo_change") in ("deleted", "voided") and standing:
            self.reposted += 1
            self.details.append({**note, "problem": f"re-posted: {standing} standing in QBO again"})


def _voided(payment: dict) -> bool:
    """qbo-reference §5.3: a voided Payment keeps its Id and PaymentRefNum with TotalAmt 0, PrivateNote Voided."""
    return money(payment["TotalAmt"]) == 0 and (payment.get("PrivateNote") or "").startswith("Voided")


def _payment_change(p: dict, qbo_by_id: dict[str, dict]) -> str | None:
    """What QBO shows happened to the Payment the platform recorded for `p` (None: unchanged or never posted).
    A Payment refunded in full is voided by this service: that is no change."""
    if not p["qbo_payment_id"]:
        return None
    found = qbo_by_id.get(p["qbo_payment_id"])
    if found is None:
        return "deleted"
    if _voided(found):
        return None if qbo_amount(p) == 0 and p.get("qbo_change") is None else "voided"
    return "amount_changed" if money(found["TotalAmt"]) != qbo_amount(p) else None


def _refund_problem(r: dict, p: dict) -> str | None:
    """A refund must be booked (or not_synced for a platform invoice) once settled, unless its payment waits
    for a person; one that needs attention says why."""
    if r["status"] == "pending":
        return None if p["status"] == "needs_attention" else "still pending after settling"
    if r["status"] == "needs_attention":
        return None if r["attention_reason"] else "needs_attention without a reason"
    if r["status"] == "posted" and not r["booking"]:
        return "posted without a booking"
    return None


def _receipt_problems(payments: list[dict], receipts: list[dict]) -> tuple[int, list[dict[str, Any]]]:
    """Every refund booked as a RefundReceipt has exactly one in QBO, for its amount, carrying its memo."""
    by_memo = Counter(r.get("PrivateNote") for r in receipts)
    by_id = {r["Id"]: r for r in receipts}
    duplicates, out = 0, []
    for p in payments:
        for r in p["refunds"]:
            n = by_memo.get(refund_memo(r["id"]), 0)
            if n > 1:
                duplicates += n - 1
                out.append({"kind": "duplicate_refund", "id": r["id"], "count": n})
            if r["booking"] != "refund_receipt":
                if n:
                    out.append({"kind": "missing_refund", "id": r["id"], "problem": f"{r['booking']} but a "
                                "RefundReceipt carries its memo"})
                continue
            found = by_id.get(r["qbo_refund_receipt_id"] or "")
            if found is None or money(found["TotalAmt"]) != money(r["amount"]):
                out.append({"kind": "missing_refund", "id": r["id"],
                            "problem": f"RefundReceipt {r['qbo_refund_receipt_id']} missing or not {r['amount']}"})
    return duplicates, out


def _deposit_change(po: dict, deposits_by_id: dict[str, dict]) -> str | None:
    """What QBO shows happened to the Deposit the platform recorded for payout `po`."""
    if not po["qbo_deposit_id"]:
        return None
    found = deposits_by_id.get(po["qbo_deposit_id"])
    if found is None:
        return "deleted"
    return "amount_changed" if money(found["TotalAmt"]) != money(po["net_amount"]) else None


def waits_for_a_person(po: dict, payments_by_id: dict[str, dict]) -> bool:
    """A pending payout whose payments are all settled and at least one needs attention: it waits, by design
    (README "Payouts wait"), until a person fixes that payment; not a payout the service forgot."""
    mine = [payments_by_id.get(i) for i in po["payment_ids"]]
    refunds = {r["id"]: (r, p) for p in payments_by_id.values() for r in p["refunds"]}
    held = [refunds.get(i) for i in po.get("refund_ids", [])]
    refund_waits = any(x is not None and (x[0]["status"] == "needs_attention" or (
        x[0]["status"] == "pending" and x[1]["status"] == "needs_attention")) for x in held)
    return (bool(po.get("waiting_reason")) and all(p is not None and p["status"] != "pending" for p in mine)
            and (any(p["status"] == "needs_attention" for p in mine if p is not None) or refund_waits))


def _invoice_problems(platform: list[dict], qbo: list[dict], paid_on_platform: set[str]) -> list[dict[str, Any]]:
    """What the reconciliation doesn't look at: every QBO invoice is on the platform (new ones included),
    with QBO's total (edits that add lines) unless it has platform payments (§3: then a QBO amount change
    is a conflict for a person, not applied). Balances and statuses are the reconciliation's part."""
    ours = {i["qbo_id"]: i for i in platform if i["source"] == "qbo"}
    out = []
    for inv in qbo:
        mine = ours.get(inv["Id"])
        voided = money(inv["TotalAmt"]) == 0 and (inv.get("PrivateNote") or "").startswith("Voided")
        if mine is None:
            out.append({"qbo_id": inv["Id"], "problem": "QBO invoice not on the platform"})
        elif (not voided and mine["id"] not in paid_on_platform
              and money(mine["amount"]) != money(inv["TotalAmt"])):
            out.append({"qbo_id": inv["Id"], "id": mine["id"], "problem": "amount differs from QBO TotalAmt",
                        "platform": mine["amount"], "qbo": inv["TotalAmt"]})
    return out


def reason_kind(reason: str) -> str:
    """An attention reason without its amounts and ids, so the report counts kinds of reasons."""
    ids = re.sub(r"\b(pay|po|inv)_[0-9a-f]+(, (pay|po|inv)_[0-9a-f]+)*", r"\1_…", reason)
    return re.sub(r"\d+(\.\d+)?", "N", ids)


def _payment_problem(p: dict, qbo_by_id: dict[str, dict], refs: Counter, voided_refs: Counter) -> str | None:
    """`refs` / `voided_refs`: our PaymentRefNums on standing / voided QBO Payments. A re-post after a
    bookkeeper's delete or void is `reposted`, judged by PostingChanges, not here."""
    ref = payment_ref_num(p["id"])
    status = p["status"]
    if voided_refs.get(ref) and p.get("qbo_change") != "voided" and qbo_amount(p) != 0:
        return f"a voided QBO Payment carries PaymentRefNum {ref}, but the platform says {status}"
    if status == "posted":
        found = qbo_by_id.get(p["qbo_payment_id"] or "")
        if found is None:
            return f"posted as QBO Payment {p['qbo_payment_id']}, which QBO doesn't have"
        if found.get("PaymentRefNum") != ref:
            return f"QBO Payment {found['Id']} has PaymentRefNum {found.get('PaymentRefNum')!r}, not {ref!r}"
        if money(found["TotalAmt"]) != qbo_amount(p):
            return (f"QBO Payment {found['Id']} is {found['TotalAmt']}, the platform payment {p['amount']} less "
                    f"its refunds booked against it is {qbo_amount(p)}")
        return None
    if refs.get(ref) and p.get("qbo_change") not in ("deleted", "voided"):
        return f"in QBO ({refs[ref]}x, PaymentRefNum {ref}) but {status} on the platform"
    if status in ("not_synced", "refunded"):  # refunded in full before it ever reached QBO
        return None
    if status == "needs_attention":
        return None if p["attention_reason"] else "needs_attention without a reason"
    return f"still {status} after settling"


def _payout_problem(po: dict, deposits: list[dict], payments_by_id: dict[str, dict]) -> str | None:
    status = po["status"]
    if status == "deposited":
        if not deposits:
            return "deposited, but no QBO Deposit carries its memo"
        if po["qbo_deposit_id"] not in {d["Id"] for d in deposits}:
            return f"recorded Deposit {po['qbo_deposit_id']} is not the one carrying its memo"
        dep = next(d for d in deposits if d["Id"] == po["qbo_deposit_id"])
        if money(dep["TotalAmt"]) != money(po["net_amount"]):
            return f"Deposit {dep['Id']} is {dep['TotalAmt']}, the net payout {po['net_amount']}"
        return None
    if deposits:
        if po.get("qbo_change") == "deleted":
            return None  # a Deposit again after the bookkeeper deleted ours: counted as `reposted`
        return f"{status} on the platform, but QBO has Deposit(s) {[d['Id'] for d in deposits]} for it"
    if status == "pending" and waits_for_a_person(po, payments_by_id):
        return None
    if status == "needs_attention":
        return None if po["attention_reason"] else "needs_attention without a reason"
    if status == "not_synced":
        return None
    return f"still {status} after settling"
