"""Void a platform invoice, in QBO first when it came from there (PRODUCT §3 "voided in the platform").

A service, not an activity: the API calls it inside the request, with the API's own pool and QBO client.
It lives here, not in `activities/`, so the API reaches it without importing activity code (README,
Architecture: `api/` may import `services`, never `activities`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from qbo.client import QboApi
from qbo.models import Invoice, QboObject
from rules.facts import InvoiceStatus, PlatformInvoice
from rules.posting import REQUEST_ID_NS, VoidAction, decide_platform_void
from store import posting_repo as repo


@dataclass
class VoidResult:
    action: str  # void_in_qbo | void_locally | already_void | reject
    reason: str | None = None
    voided: bool = False


async def void_invoice_in_qbo(pool: asyncpg.Pool, qbo: QboApi, partner_id: str, invoice_id: str) -> VoidResult:
    """Void a platform invoice: a QBO-sourced invoice with no payments is voided in QBO (operation=void)
    and then in the platform; otherwise refused with `decide_platform_void`'s reason. Raises LookupError
    for an unknown invoice and QboError for transport failures."""
    row = await repo.invoice_with_payments(pool, partner_id, invoice_id)
    if row is None:
        raise LookupError(f"invoice {invoice_id} not found")
    invoice = PlatformInvoice(
        id=row["id"], source=row["source"], qbo_id=row["qbo_id"], amount=row["amount"], balance=row["balance"],
        currency=row["currency"].strip(), status=InvoiceStatus(row["status"]), qbo_deleted=row["qbo_deleted"],
        has_platform_payments=row["has_payments"])
    decision = decide_platform_void(invoice)
    if decision.action == VoidAction.VOID_LOCALLY:
        await repo.mark_invoice_void(pool, invoice_id, None)
        return VoidResult(decision.action.value, decision.reason, voided=True)
    if decision.action != VoidAction.VOID_IN_QBO:
        return VoidResult(decision.action.value, decision.reason, voided=False)
    company = qbo.company(partner_id)
    live = await company.read("Invoice", invoice.qbo_id or "")
    if isinstance(live, Invoice) and live.Balance is not None and live.TotalAmt is not None \
            and live.Balance < live.TotalAmt:
        return VoidResult(VoidAction.REJECT.value, f"invoice has payments or credits applied in QBO (balance "
                          f"{live.Balance} of {live.TotalAmt}); void it in QuickBooks after removing them")

    async def void(current: QboObject, request_id: str) -> QboObject:
        return await company.void("Invoice", current.Id, current.SyncToken or "0", request_id)

    request_id = str(uuid.uuid5(REQUEST_ID_NS, f"void-invoice:{invoice_id}:{live.SyncToken}"))
    voided = await company.retry_stale_once("Invoice", live.Id, void, request_id)
    await repo.mark_invoice_void(pool, invoice_id, int(voided.SyncToken) if voided.SyncToken else None)
    return VoidResult(decision.action.value, None, voided=True)
