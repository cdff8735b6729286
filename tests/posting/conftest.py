"""Fixtures for the posting tests: a partner connected to an emulator company, with its customers and
invoices mirrored into PostgreSQL the way the sync would (rows inserted directly; the API is elsewhere)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.posting import PostingActivities
from qbo.models import Account, Customer, Invoice
from qbo.query import select
from rules.invoices import derive_balance_status
from services.reconcile import reconcile
from tests.qbo.conftest import api, connect, emu  # noqa: F401  (fixtures, imported not copied)
from workflows.models import PostingInput

D = Decimal


class World:
    """One partner + emulator company + the platform rows mirroring it."""

    def __init__(self, pool, api_, emu_, company) -> None:
        self.pool, self.api, self.emu, self.company = pool, api_, emu_, company
        self.partner = company.partner_id
        self.realm = company.realm_id
        self.customers: dict[str, str] = {}  # qbo id → platform id

    # --- platform rows ------------------------------------------------------------------------------

    async def mirror_customers(self) -> None:
        async for page in self.company.query_pages("Customer", include_inactive=True):
            for c in page.items:
                assert isinstance(c, Customer)
                pid = f"c-{uuid.uuid4().hex[:10]}"
                await self.pool.execute(
                    "INSERT INTO customers (id, partner_id, source, realm_id, qbo_id, qbo_sync_token, name,"
                    " qbo_active) VALUES ($1, $2, 'qbo', $3, $4, $5, $6, $7)",
                    pid, self.partner, self.realm, c.Id, int(c.SyncToken or 0), c.DisplayName or c.Id,
                    c.Active is not False)
                self.customers[c.Id] = pid

    async def new_invoice(self, amount: str) -> str:
        """An invoice created in QBO (a bookkeeper's) and mirrored into the platform → platform id."""
        customer = next(iter(self.customers))
        body = {"CustomerRef": {"value": customer}, "Line": [{
            "Amount": D(amount), "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}
        inv = await self.company.create("Invoice", body, uuid.uuid4().hex)
        assert isinstance(inv, Invoice)
        return await self.mirror_invoice(inv)

    async def mirror_invoice(self, inv: Invoice) -> str:
        iid = f"i-{uuid.uuid4().hex[:10]}"
        await self.pool.execute(
            "INSERT INTO invoices (id, partner_id, source, realm_id, qbo_id, qbo_sync_token, customer_id,"
            " qbo_customer_id, doc_number, amount, balance, currency, status, qbo_balance, qbo_total, exchange_rate)"
            " VALUES ($1, $2, 'qbo', $3, $4, $5, $6, $7, $8, $9, $10, $12, $11, $10, $9, $13)",
            iid, self.partner, self.realm, inv.Id, int(inv.SyncToken or 0), self.customers[inv.CustomerRef.value],
            inv.CustomerRef.value, inv.DocNumber, inv.TotalAmt, inv.Balance,
            _status(inv.TotalAmt, inv.Balance, D(0)), inv.CurrencyRef.value if inv.CurrencyRef else "USD",
            inv.ExchangeRate)
        return iid

    async def resync_invoice(self, invoice_id: str) -> None:
        """What the sync does when QBO changed the invoice: balance = QBO Balance − unposted payments."""
        row = await self.pool.fetchrow("SELECT qbo_id FROM invoices WHERE id = $1", invoice_id)
        found = await self.company.find("Invoice", [("Id", "=", row["qbo_id"])])
        if not found:
            await self.pool.execute(
                "UPDATE invoices SET qbo_deleted = true, archived = true WHERE id = $1", invoice_id)
            return
        inv = found[0]
        unposted = await self.unposted(invoice_id)
        derived = derive_balance_status(qbo_total=inv.TotalAmt, qbo_balance=inv.Balance, unposted=unposted,
                                        voided=inv.is_voided)
        await self.pool.execute(
            "UPDATE invoices SET balance = $2, status = $3, qbo_sync_token = $4, qbo_balance = $5, qbo_total = $6"
            " WHERE id = $1", invoice_id, derived.balance, derived.status.value, int(inv.SyncToken or 0),
            inv.Balance, inv.TotalAmt)

    async def unposted(self, invoice_id: str) -> Decimal:
        return await self.pool.fetchval(
            "SELECT COALESCE(sum(amount - netted_amount), 0) FROM payments WHERE invoice_id = $1"
            " AND status IN ('pending', 'needs_attention') AND qbo_change IS NULL", invoice_id)

    async def pay(self, invoice_id: str, amount: str, paid_at: datetime | None = None) -> str:
        """A customer paid in the platform: a pending payment, and the platform balance goes down."""
        pid = f"pay-{uuid.uuid4().hex[:12]}"
        async with self.pool.acquire() as conn, conn.transaction():
            inv = await conn.fetchrow("SELECT amount, balance, currency FROM invoices WHERE id = $1 FOR UPDATE",
                                      invoice_id)
            await conn.execute(
                "INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status, paid_at)"
                " VALUES ($1, $2, $3, $4, $6, 'pending', COALESCE($5, now()))",
                pid, self.partner, invoice_id, D(amount), paid_at, inv["currency"])
            balance = max(inv["balance"] - D(amount), D(0))
            await conn.execute("UPDATE invoices SET balance = $2, status = $3 WHERE id = $1",
                               invoice_id, balance, _status(inv["amount"], balance, D(0)))
        return pid

    async def payout(self, payment_ids: list[str], fee: str, arrival: date | None = None) -> str:
        oid = f"po-{uuid.uuid4().hex[:10]}"
        gross = await self.pool.fetchval("SELECT sum(amount) FROM payments WHERE id = ANY($1)", payment_ids)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO payouts (id, partner_id, gross_amount, fee_amount, net_amount, status, arrival_date,"
                " currency) VALUES ($1, $2, $3, $4, $5, 'pending', COALESCE($6, CURRENT_DATE),"
                " (SELECT min(currency) FROM payments WHERE id = ANY($7)))",
                oid, self.partner, gross, D(fee), gross - D(fee), arrival, payment_ids)
            await conn.executemany("INSERT INTO payout_payments (payout_id, payment_id) VALUES ($1, $2)",
                                   [(oid, p) for p in payment_ids])
        return oid

    async def set_prefs(self, **prefs: Any) -> None:
        await self.pool.execute(
            "UPDATE qbo_connections SET preferences = $2 WHERE partner_id = $1", self.partner, prefs)

    async def prefs(self) -> dict[str, Any]:
        return await self.pool.fetchval(
            "SELECT preferences FROM qbo_connections WHERE partner_id = $1", self.partner)

    async def bank_account(self) -> str:
        found = await self.company.find("Account", [("AccountType", "=", "Bank")])
        return next(a.Id for a in found if isinstance(a, Account))

    async def payment(self, pid: str) -> Any:
        return await self.pool.fetchrow("SELECT * FROM payments WHERE id = $1", pid)

    async def payout_row(self, oid: str) -> Any:
        return await self.pool.fetchrow("SELECT * FROM payouts WHERE id = $1", oid)

    # --- QBO side ----------------------------------------------------------------------------------

    async def qbo_payments(self, ref: str) -> list:
        return await self.company.find("Payment", [("PaymentRefNum", "=", ref)])

    async def qbo_invoice(self, invoice_id: str) -> Invoice:
        qbo_id = await self.pool.fetchval("SELECT qbo_id FROM invoices WHERE id = $1", invoice_id)
        inv = await self.company.read("Invoice", qbo_id)
        assert isinstance(inv, Invoice)
        return inv

    async def ops(self) -> dict[str, int]:
        return (await self.emu.requests(self.realm))["by_operation"]

    # --- the code under test -----------------------------------------------------------------------

    def activities(self, api_: Any = None) -> PostingActivities:
        return PostingActivities(self.pool, api_ or self.api)

    async def post(self, api_: Any = None):
        acts = self.activities(api_)
        return await ActivityEnvironment().run(acts.post_payments, PostingInput(partner_id=self.partner))

    async def deposit(self, api_: Any = None):
        acts = self.activities(api_)
        return await ActivityEnvironment().run(acts.create_deposits, PostingInput(partner_id=self.partner))

    async def reconcile(self) -> dict[str, Any]:
        return await reconcile(self.pool, self.api, self.partner)


def _status(amount: Decimal, balance: Decimal, _unused: Decimal) -> str:
    if balance == 0:
        return "paid"
    return "partially_paid" if balance < amount else "open"


@pytest.fixture
async def world(connect, api, emu, db_pool) -> World:  # noqa: F811
    company = await connect(customers=3, invoices=4)
    w = World(db_pool, api, emu, company)
    await w.mirror_customers()
    async for page in company.query_pages("Invoice"):
        for inv in page.items:
            await w.mirror_invoice(inv)
    return w


async def no_mismatches(w: World) -> None:
    report = await w.reconcile()
    assert report["invoice_mismatches"] == 0 and report["deposit_mismatches"] == 0, report["details"]


__all__ = ["World", "no_mismatches", "select"]
