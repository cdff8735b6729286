"""The accounts this service creates in a partner's QBO company when it first needs them (PRODUCT.md §4):
"Alternative Payments Fees" (an expense account for Deposit fee lines) and "Alternative Payments Sales" (an
income account for payments on platform-created invoices). Shared by onboarding's default preferences and
the deposit step, so both find the same account and, when they create it, send the same requestid: QBO
replays rather than creating a second one (qbo-reference §7.5)."""

from __future__ import annotations

import uuid

from qbo.client import QboCompany
from qbo.models import Account
from rules.preferences import FEE_ACCOUNT_NAME, fee_account_body

FEE_ACCOUNT_KEY = "qbo-fee-account"
OTHER_INCOME_ACCOUNT_KEY = "qbo-other-income-account"


async def ensure_account(company: QboCompany, name: str, body: dict[str, str], key: str) -> str:
    """The active account named `name` (the oldest when there are several), else one created from `body`
    with a requestid derived from `key` and the partner."""
    return (await ensure_account_object(company, name, body, key)).Id


async def ensure_account_object(company: QboCompany, name: str, body: dict[str, str], key: str) -> Account:
    """`ensure_account`, answering the Account itself (its currency matters to a foreign RefundReceipt)."""
    found = await company.find("Account", [("Name", "=", name)])
    active = [a for a in found if isinstance(a, Account) and a.Active is not False]
    if active:
        return min(active, key=lambda a: int(a.Id) if a.Id.isdigit() else 0)
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}/{company.partner_id}"))
    created = await company.create("Account", body, request_id)
    if not isinstance(created, Account):
        raise TypeError(f"QBO answered an Account create with {type(created).__name__}")
    return created


async def ensure_fee_account(company: QboCompany) -> str:
    return await ensure_account(company, FEE_ACCOUNT_NAME, fee_account_body(), FEE_ACCOUNT_KEY)
