"""The platform's own data (PRODUCT.md §6): customers, invoices, payments and payouts of a partner.

A payment or payout is committed first and the partner's workflow is told afterwards (`sync_now`, best
effort): if Temporal is down the row still stands as `pending` and the next sync cycle posts it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from temporalio.client import Client

from api import schemas
from api.decimal_json import DecimalJsonRoute
from api.deps import PartnerId, Pool, Temporal, require_api_key
from api.errors import ApiError, not_found
from api.paging import Paging, page
from rules.dates import local_date
from services.void import void_invoice_in_qbo
from starter import partners as partner_workflows
from store import attention_repo, refunds_repo
from store import platform_repo as repo

log = logging.getLogger("api.platform")
router = APIRouter(route_class=DecimalJsonRoute, dependencies=[Depends(require_api_key)], tags=["platform"],
                   responses={401: {"model": schemas.ErrorBody}, 404: {"model": schemas.ErrorBody},
                              422: {"model": schemas.ErrorBody}})


async def nudge(client: Client, pid: str) -> None:
    """Ask the workflow to sync now; never fails the request (the next cycle picks the work up anyway)."""
    try:
        await partner_workflows.sync_now(client, pid)
    except Exception as exc:
        log.info("sync_now for %s not delivered (%s); the next cycle will post it", pid, type(exc).__name__)


@router.get("/partners/{pid}/customers", response_model=schemas.Page[schemas.CustomerOut])
async def list_customers(pid: PartnerId, db: Pool, paging: Paging,
                         include_archived: bool = Query(False)) -> schemas.Page[schemas.CustomerOut]:
    rows = await repo.list_customers(db, pid, include_archived, paging.after, paging.limit + 1)
    items, cursor = page(rows, paging)
    return schemas.Page[schemas.CustomerOut](items=[schemas.CustomerOut(**r) for r in items], next_cursor=cursor)


@router.post("/partners/{pid}/customers", status_code=201, response_model=schemas.Created)
async def create_customer(body: schemas.CustomerIn, pid: PartnerId,
                          db: Pool) -> schemas.Created:
    """A platform-created customer; never sent to QBO (§3)."""
    return schemas.Created(id=await repo.create_customer(db, pid, body.name, body.email))


@router.get("/partners/{pid}/invoices", response_model=schemas.Page[schemas.InvoiceOut])
async def list_invoices(pid: PartnerId, db: Pool, paging: Paging,
                        include_archived: bool = Query(False)) -> schemas.Page[schemas.InvoiceOut]:
    rows = await repo.list_invoices(db, pid, include_archived, paging.after, paging.limit + 1)
    items, cursor = page(rows, paging)
    return schemas.Page[schemas.InvoiceOut](items=[schemas.InvoiceOut(**r) for r in items], next_cursor=cursor)


@router.post("/partners/{pid}/invoices", status_code=201, response_model=schemas.Created)
async def create_invoice(body: schemas.InvoiceIn, pid: PartnerId,
                         db: Pool) -> schemas.Created:
    """A platform-created invoice; never sent to QBO (§3)."""
    new = repo.NewInvoice(customer_id=body.customer_id, amount=body.amount, due_date=body.due_date,
                          doc_number=body.doc_number, currency=body.currency)
    return schemas.Created(id=await repo.create_invoice(db, pid, new))


@router.post("/partners/{pid}/invoices/{iid}/payments", status_code=201, response_model=schemas.PaymentCreated,
             responses={409: {"model": schemas.ErrorBody}})
async def create_payment(iid: str, body: schemas.PaymentIn, pid: PartnerId,
                         db: Pool, client: Temporal) -> schemas.PaymentCreated:
    """A customer paid in the platform: `pending` until posted to QBO, `not_synced` for a platform invoice."""
    row = await repo.create_payment(db, pid, iid, body.amount, body.reference, body.paid_at)
    if row["status"] == "pending":
        await nudge(client, pid)
    return schemas.PaymentCreated(**dict(row))


@router.post("/partners/{pid}/invoices/{iid}/void", response_model=schemas.VoidOut,
             responses={409: {"model": schemas.ErrorBody}, 501: {"model": schemas.ErrorBody}})
async def void_invoice(iid: str, request: Request, pid: PartnerId) -> schemas.VoidOut:
    """Void in the platform: a QBO-sourced invoice without payments is voided in QBO first (§3); one with
    payments is refused (409) with the reason."""
    try:
        result = await void_invoice_in_qbo(request.app.state.pool, request.app.state.qbo, pid, iid)
    except LookupError:
        raise not_found(f"invoice {iid}") from None
    if not result.voided and result.action != "already_void":
        raise ApiError(409, "void_refused", result.reason or "this invoice can't be voided")
    return schemas.VoidOut(id=iid, action=result.action, voided=result.voided, reason=result.reason)


@router.get("/partners/{pid}/payments", response_model=schemas.Page[schemas.PaymentOut])
async def list_payments(pid: PartnerId, db: Pool, paging: Paging) -> schemas.Page[schemas.PaymentOut]:
    items, cursor = page(await repo.list_payments(db, pid, paging.after, paging.limit + 1), paging)
    refunds = await refunds_repo.refunds_of_payments(db, [r["id"] for r in items])
    return schemas.Page[schemas.PaymentOut](items=[schemas.PaymentOut(**r, refunds=refunds.get(r["id"], [])) for r in items],
                                          next_cursor=cursor)


@router.post("/partners/{pid}/payments/{payment_id}/refunds", status_code=201, response_model=schemas.RefundOut)
async def create_refund(payment_id: str, body: schemas.RefundIn, pid: PartnerId, db: Pool,
                        client: Temporal) -> schemas.RefundOut:
    """A refund or chargeback of a payment, full or partial; several per payment up to what was paid (422
    past it). How it reaches QBO depends on where the payment is (docs/refunds.md): `pending` until the
    workflow books it, `posted` at once when the payment had not reached QBO yet (it is then posted net of
    the refund), `not_synced` for a payment on a platform-created invoice."""
    row = await refunds_repo.create_refund(db, pid, payment_id, body.amount, body.kind, body.reason)
    if row["status"] == "pending":
        await nudge(client, pid)
    return schemas.RefundOut(**dict(row))


@router.post("/partners/{pid}/payouts", status_code=201, response_model=schemas.PayoutCreated,
             responses={409: {"model": schemas.ErrorBody}})
async def create_payout(body: schemas.PayoutIn, pid: PartnerId, db: Pool,
                        client: Temporal) -> schemas.PayoutCreated:
    """Payments (of this partner, in no payout yet) minus refunds (`refund_ids`, in no payout yet) minus the
    fee; a QBO Deposit when deposits are on, dated
    `arrival_date` (default: today in the partner's time zone, PRODUCT §4)."""
    arrival = body.arrival_date or local_date(datetime.now(UTC), await repo.time_zone(db, pid))
    row = await repo.create_payout(db, pid, body.payment_ids, body.fee_amount, arrival, body.refund_ids)
    if row["status"] == "pending":
        await nudge(client, pid)
    return schemas.PayoutCreated(**dict(row))


@router.get("/partners/{pid}/payouts", response_model=schemas.Page[schemas.PayoutOut])
async def list_payouts(pid: PartnerId, db: Pool, paging: Paging) -> schemas.Page[schemas.PayoutOut]:
    items, cursor = page(await repo.list_payouts(db, pid, paging.after, paging.limit + 1), paging)
    return schemas.Page[schemas.PayoutOut](items=[schemas.PayoutOut(**r) for r in items], next_cursor=cursor)


@router.post("/partners/{pid}/payments/{payment_id}/retry", status_code=202, response_model=schemas.RetryAccepted,
             responses={409: {"model": schemas.ErrorBody}})
async def retry_payment(payment_id: str, pid: PartnerId, db: Pool, client: Temporal) -> schemas.RetryAccepted:
    """Put a `needs_attention` payment back in line once its cause is fixed (§4, §6); 409 otherwise."""
    return await _retry(db, client, pid, "payments", payment_id)


@router.post("/partners/{pid}/payouts/{payout_id}/retry", status_code=202, response_model=schemas.RetryAccepted,
             responses={409: {"model": schemas.ErrorBody}})
async def retry_payout(payout_id: str, pid: PartnerId, db: Pool, client: Temporal) -> schemas.RetryAccepted:
    """Put a `needs_attention` payout back in line (its Deposit is looked up by memo before any create)."""
    return await _retry(db, client, pid, "payouts", payout_id)


@router.post("/partners/{pid}/refunds/{refund_id}/retry", status_code=202, response_model=schemas.RetryAccepted,
             responses={409: {"model": schemas.ErrorBody}})
async def retry_refund(refund_id: str, pid: PartnerId, db: Pool, client: Temporal) -> schemas.RetryAccepted:
    """Put a `needs_attention` refund back in line once its cause is fixed (e.g. the refund clearing account's
    currency, docs/refunds.md); it is looked up in QBO before anything is sent again."""
    return await _retry(db, client, pid, "refunds", refund_id)


async def _retry(db: asyncpg.Pool, client: Client, pid: str, table: str, item_id: str) -> schemas.RetryAccepted:
    what = table[:-1]
    outcome = await attention_repo.retry(db, pid, table, item_id)
    if outcome == "not_found":
        raise not_found(f"{what} {item_id}")
    if outcome != "queued":
        hint = " (already back in line)" if outcome == "pending" else ""
        raise ApiError(409, "conflict", f"{what} {item_id} is {outcome}{hint}, not needs_attention; "
                                        "only an item that needs attention can be retried")
    await nudge(client, pid)
    return schemas.RetryAccepted(id=item_id, status="pending")
