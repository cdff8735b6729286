"""Per-partner posting preferences and their validation against the partner's QBO accounts (PRODUCT.md §4).

Validation returns every problem as a sentence a partner can act on in the dashboard, rather than raising
on the first, so a rejected change (422, or the workflow update validator) can say everything at once.
An empty list means valid. Nothing is changed here: the caller applies the preferences only when valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import field_validator

from rules.dates import DEFAULT_TIME_ZONE, time_zone_problem
from rules.facts import AccountFacts, CurrencyFacts, Frozen

FEE_ACCOUNT_NAME = "Alternative Payments Fees"
OTHER_INCOME_ACCOUNT_NAME = "Alternative Payments Sales"
UNDEPOSITED_FUNDS_SUBTYPE = "UndepositedFunds"  # qbo-reference §5.5: look it up, never hardcode Id 4

# qbo-reference §5.5 / §6: where each preference may point (QBO AccountType values, §2 enum).
PAYMENT_ACCOUNT_TYPES = frozenset({"Bank", "Other Current Asset"})  # Undeposited Funds is Other Current Asset
DEPOSIT_ACCOUNT_TYPES = frozenset({"Bank"})
FEE_ACCOUNT_TYPES = frozenset({"Expense", "Other Expense", "Cost of Goods Sold"})
OTHER_INCOME_ACCOUNT_TYPES = frozenset({"Income", "Other Income"})


class Preferences(Frozen):
    """§4 preferences. `payment_account_id=None` means QBO's default (Undeposited Funds);
    `fee_account_id=None` means the "Alternative Payments Fees" expense account is to be created;
    `other_income_account_id=None` means the "Alternative Payments Sales" income account is to be found or
    created when a payout first needs it (payments on platform-created invoices, §4). `time_zone` is the
    company's IANA zone, the one TxnDates are computed in (rules.dates). Carried in workflow state: a new
    field must have a default, or older histories could not be decoded."""

    payment_account_id: str | None = None
    create_deposits: bool = False
    deposit_account_id: str | None = None
    fee_account_id: str | None = None
    other_income_account_id: str | None = None
    time_zone: str = DEFAULT_TIME_ZONE

    @field_validator("time_zone", mode="before")
    @classmethod
    def _blank_zone_is_default(cls, value: object) -> object:
        """Checked by `validate_preferences`, not here: a stored zone must always load, even one a newer
        tz database dropped; only a change to it is refused."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_TIME_ZONE
        return value.strip() if isinstance(value, str) else value

    @field_validator("payment_account_id", "deposit_account_id", "fee_account_id", "other_income_account_id",
                     mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value


def validate_preferences(
    prefs: Preferences, accounts: Sequence[AccountFacts], currency: CurrencyFacts | None = None
) -> list[str]:
    """Check each account preference exists, is active and has the right type; a deposit account is
    required when deposits are on; the time zone is an IANA name; with `currency`, the account the payments
    go to can take the partner's payments in their currencies (§4). Returns actionable messages; empty
    means valid."""
    by_id = {a.qbo_id: a for a in accounts}
    errors: list[str] = []
    if problem := time_zone_problem(prefs.time_zone):
        errors.append(problem)
    errors += _check(by_id, "payment_account_id", prefs.payment_account_id, PAYMENT_ACCOUNT_TYPES,
                     "Undeposited Funds, a Bank or an Other Current Asset account")
    if prefs.create_deposits and prefs.deposit_account_id is None:
        errors.append(
            "deposit_account_id is required when create_deposits is on: choose the bank account "
            "the payouts arrive in"
        )
    errors += _check(by_id, "deposit_account_id", prefs.deposit_account_id, DEPOSIT_ACCOUNT_TYPES, "a Bank account")
    errors += _check(by_id, "fee_account_id", prefs.fee_account_id, FEE_ACCOUNT_TYPES,
                     "an Expense, Other Expense or Cost of Goods Sold account")
    errors += _check(by_id, "other_income_account_id", prefs.other_income_account_id, OTHER_INCOME_ACCOUNT_TYPES,
                     "an Income or Other Income account")
    if currency is not None:
        errors += currency_problems(prefs, by_id, currency)
    return errors


def currency_problems(prefs: Preferences, by_id: dict[str, AccountFacts], currency: CurrencyFacts) -> list[str]:
    """docs/currency.md: a payment goes only into an account in home currency or in its own currency (H-fx,
    qbo-reference §15.5); a Deposit is in its bank account's currency and holds payments of that currency
    only. `currency.invoice_currencies` are the currencies the partner's payments are in. An account that
    does not exist is reported by `_check`, not here."""
    home, taking = currency.home_currency, sorted(set(currency.invoice_currencies))
    if prefs.create_deposits:
        bank = by_id.get(prefs.deposit_account_id or "")
        if bank is None:
            return []
        in_bank = bank.currency or home
        others = [c for c in taking if c != in_bank]
        if not others:
            return []
        if len(taking) > 1:
            fix = (f"the partner's invoices are in {_and(taking)}, and one deposit account takes one currency "
                   "(deposit accounts per currency are not supported): keep Create Deposits off")
        else:
            fix = f"choose a bank account in {taking[0]}"
        return [f"deposit_account_id: account {bank.name!r} ({bank.qbo_id}) is in {in_bank} and cannot take the "
                f"partner's payments in {_and(others)}: a QuickBooks Deposit is in its bank account's currency and "
                f"holds payments of that currency only; {fix}"]
    account = by_id.get(prefs.payment_account_id or "")
    if account is None:
        return []
    in_account = account.currency or home
    others = [c for c in taking if c != in_account]
    if in_account == home or not others:
        return []
    return [f"payment_account_id: account {account.name!r} ({account.qbo_id}) is in {in_account} and cannot take "
            f"the partner's payments in {_and(others)}: QuickBooks records a payment only into an account in the "
            f"home currency ({home}) or in the payment's own currency; choose a {home} account"]


def _and(codes: Sequence[str]) -> str:
    return ", ".join(codes[:-1]) + f" and {codes[-1]}" if len(codes) > 1 else codes[0]


def _check(
    by_id: dict[str, AccountFacts], field: str, account_id: str | None, types: frozenset[str], wanted: str
) -> list[str]:
    if account_id is None:
        return []
    account = by_id.get(account_id)
    if account is None:
        return [f"{field}: account {account_id!r} does not exist in this QuickBooks company; "
                "reload the account list and choose one of its accounts"]
    errors = []
    if not account.active:
        errors.append(f"{field}: account {account.name!r} ({account_id}) is inactive in QuickBooks; "
                      "reactivate it there or choose an active account")
    if account.account_type not in types:
        errors.append(f"{field}: account {account.name!r} ({account_id}) is of type "
                      f"{account.account_type!r}; choose {wanted}")
    return errors


def find_undeposited_funds(accounts: Iterable[AccountFacts]) -> AccountFacts | None:
    """The active Undeposited Funds account, found by AccountSubType (qbo-reference §5.5)."""
    matches = [a for a in accounts if a.active and a.account_subtype == UNDEPOSITED_FUNDS_SUBTYPE]
    return min(matches, key=_id_order) if matches else None


def find_fee_account(accounts: Iterable[AccountFacts]) -> AccountFacts | None:
    """The active Expense account named "Alternative Payments Fees" (case and surrounding spaces ignored)."""
    wanted = FEE_ACCOUNT_NAME.casefold()
    matches = [
        a for a in accounts
        if a.active and a.account_type == "Expense" and a.name.strip().casefold() == wanted
    ]
    return min(matches, key=_id_order) if matches else None


def default_preferences(accounts: Sequence[AccountFacts]) -> Preferences:
    """§4 defaults: payments to Undeposited Funds, deposits off, no deposit account, the fee account if it
    exists (else None: "create it"). Deterministic when several accounts match: the lowest Id wins."""
    uf = find_undeposited_funds(accounts)
    fee = find_fee_account(accounts)
    return Preferences(
        payment_account_id=uf.qbo_id if uf else None,
        create_deposits=False,
        deposit_account_id=None,
        fee_account_id=fee.qbo_id if fee else None,
    )


def fee_account_body() -> dict[str, str]:
    """QBO Account create body for the missing fee account (§4: "created if missing"; qbo-reference §5.5:
    expense account, sub-type BankCharges)."""
    return {"Name": FEE_ACCOUNT_NAME, "AccountType": "Expense", "AccountSubType": "BankCharges"}


def other_income_account_body() -> dict[str, str]:
    """QBO Account create body for the income account of payments on platform-created invoices (§4:
    "created when first needed"; AccountSubType `OtherPrimaryIncome`, QBO's generic income sub-type)."""
    return {"Name": OTHER_INCOME_ACCOUNT_NAME, "AccountType": "Income", "AccountSubType": "OtherPrimaryIncome"}


def _id_order(account: AccountFacts) -> tuple[int, str]:
    """Order QBO Ids numerically when they are numbers ("4" < "35"), else as text."""
    return (int(account.qbo_id), "") if account.qbo_id.isdigit() else (1 << 62, account.qbo_id)
