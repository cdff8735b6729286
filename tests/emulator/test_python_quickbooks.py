"""An off-the-shelf client (python-quickbooks + intuit-oauth), changed only in its base URLs, can
connect, create, query, pay and deposit against the emulator.

The discovery document URL stands in for Intuit's (intuitlib accepts one as `environment`), and
`api_url_v3` points at the emulator. OAUTHLIB_INSECURE_TRANSPORT lets requests-oauthlib talk plain
HTTP to localhost. Linked deposit lines drop the library's default DetailType, the documented
workaround for I:routablehq/python-quickbooks#329 (QBO itself rejects it, and so does the emulator).
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks
from quickbooks.objects.account import Account
from quickbooks.objects.base import CustomerMemo, LinkedTxn, Ref  # noqa: F401
from quickbooks.objects.customer import Customer
from quickbooks.objects.deposit import Deposit, DepositLine, DepositLineDetail
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment, PaymentLine

import settings
from tests.emulator.support import Api

REDIRECT = "https://partner.example/callback"


@pytest.fixture
def qb(company: Api, admin: httpx.Client, emulator_url: str, monkeypatch: pytest.MonkeyPatch) -> QuickBooks:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    s = settings.get_settings()
    auth = AuthClient(s.qbo_client_id, s.qbo_client_secret.get_secret_value(), REDIRECT,
                      environment=f"{emulator_url}/.well-known/openid_configuration")
    url = auth.get_authorization_url([Scopes.ACCOUNTING])
    redirect = admin.get(f"{url}&realmId={company.realm}")  # the user picks this company
    params = parse_qs(urlsplit(redirect.headers["location"]).query)
    auth.get_bearer_token(params["code"][0], realm_id=params["realmId"][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=company.realm,
                            minorversion=75, use_decimal=True)
    client.api_url_v3 = f"{emulator_url}/v3"  # the only change: the base URL
    return client


def test_create_query_pay_deposit(qb: QuickBooks) -> None:
    customer = Customer()
    customer.DisplayName = "O'Reilly & Søn"
    customer.save(qb=qb)

    invoice = Invoice()
    line = SalesItemLine()
    line.Amount = Decimal("120.00")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = "1"
    invoice.Line.append(line)
    invoice.CustomerRef = customer.to_ref()
    invoice = invoice.save(qb=qb)  # save() returns the object as QBO answered
    assert invoice.DocNumber and Decimal(str(invoice.Balance)) == Decimal("120.00")

    found = Customer.filter(DisplayName="O'Reilly & Søn", qb=qb)
    assert [c.Id for c in found] == [customer.Id]
    assert [i.Id for i in Invoice.query("SELECT * FROM Invoice WHERE Balance > '0'", qb=qb)] == [invoice.Id]

    payment = Payment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = Decimal("120.00")
    payment.PaymentRefNum = "platform-pay-1"
    pline = PaymentLine()
    pline.Amount = Decimal("120.00")
    link = LinkedTxn()
    link.TxnId = invoice.Id
    link.TxnType = "Invoice"
    pline.LinkedTxn.append(link)
    payment.Line.append(pline)
    payment.save(qb=qb)
    assert Decimal(str(Invoice.get(invoice.Id, qb=qb).Balance)) == 0

    checking = Account.filter(AccountType="Bank", Name="Checking", qb=qb)[0]
    fees = Account.where("AccountSubType = 'BankCharges'", qb=qb)[0]
    deposit = Deposit()
    deposit.DepositToAccountRef = checking.to_ref()
    deposit.PrivateNote = "payout po_123"
    linked = DepositLine()
    linked.Amount = Decimal("120.00")
    linked.DetailType = None
    dlink = LinkedTxn()
    dlink.TxnId = payment.Id
    dlink.TxnType = "Payment"
    dlink.TxnLineId = "0"
    linked.LinkedTxn.append(dlink)
    fee = DepositLine()
    fee.Amount = Decimal("-3.78")
    fee.DepositLineDetail = DepositLineDetail()
    fee.DepositLineDetail.AccountRef = fees.to_ref()
    deposit.Line = [linked, fee]
    deposit = deposit.save(qb=qb)
    assert Decimal(str(deposit.TotalAmt)) == Decimal("116.22")
    swept = Payment.get(payment.Id, qb=qb).LinkedTxn[0]  # the library leaves top-level LinkedTxn as dicts
    assert (swept["TxnType"] if isinstance(swept, dict) else swept.TxnType) == "Deposit"
