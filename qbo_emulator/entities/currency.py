"""Multicurrency (qbo-reference §15.5, docs/currency.md): Preferences.CurrencyPrefs and the currency rules.

- `GET …/preferences` answers `CurrencyPrefs {HomeCurrency, MultiCurrencyEnabled}`, read-only through the
  API; a company made without a currency spec is single-currency USD (what every company was before).
- With multicurrency off every transaction is in home currency and a foreign `CurrencyRef` is refused.
- With it on: a customer has one currency, fixed once set; an invoice or payment is in its customer's
  currency; transactions carry `ExchangeRate` (home units per foreign unit; 1 for home, the reference
  default 1 when a foreign one omits it, R-pay) and invoices `HomeTotalAmt`/`HomeBalance`.
- A payment goes only into an account in home currency or in its own currency (H-fx); a Deposit is in its
  bank account's currency and links only payments in that currency (§15 open question 6: the strict
  reading). Income and expense accounts are home currency.
QBO documents no fault code for these (§15.5): they answer the generic 6000 with the sentences connectors
report.
"""

from __future__ import annotations

from decimal import Decimal

from qbo_emulator.entities.common import Ctx, EntityType, load
from qbo_emulator.faults import QboFault, business_validation
from qbo_emulator.wire import money, to_decimal

NAMES = {"USD": "United States Dollar", "EUR": "Euro", "GBP": "British Pound Sterling", "CAD": "Canadian Dollar",
         "AUD": "Australian Dollar", "JPY": "Japanese Yen", "CHF": "Swiss Franc", "MXN": "Mexican Peso"}
HOME_ONLY_ACCOUNT_TYPES = {"Income", "Other Income", "Expense", "Other Expense", "Cost of Goods Sold", "Equity"}
ONE = Decimal("1")


def currency_ref(code: str) -> dict:
    return {"value": code, "name": NAMES.get(code, code)}


def prefs_body(home: str = "USD", multicurrency: bool = False) -> dict:
    return {"CurrencyPrefs": {"MultiCurrencyEnabled": multicurrency, "HomeCurrency": {"value": home}}}


class PreferencesType(EntityType):
    """One per company (Id 1), like CompanyInfo. Only CurrencyPrefs is modelled."""

    name = "Preferences"
    deletable = False
    known = ["CurrencyPrefs"]
    order = ["CurrencyPrefs", "domain", "sparse", "Id", "SyncToken", "MetaData"]

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        doc = {k: v for k, v in body.items() if k in self.known}
        doc["Id"] = "1"
        return doc


PREFERENCES = PreferencesType()


def preferences(ctx: Ctx) -> dict:
    return load(ctx, "Preferences", 1) or {"Id": "1", **prefs_body()}


def home_currency(ctx: Ctx) -> str:
    return str(preferences(ctx)["CurrencyPrefs"]["HomeCurrency"]["value"])


def multicurrency(ctx: Ctx) -> bool:
    return bool(preferences(ctx)["CurrencyPrefs"].get("MultiCurrencyEnabled"))


def code_of(reference: object) -> str | None:
    """The ISO code of a CurrencyRef (qbo-reference §15.5: the value is the code, not an Id)."""
    if not isinstance(reference, dict) or not reference.get("value"):
        return None
    code = str(reference["value"]).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {reference['value']}",
                       element="CurrencyRef")
    return code


def currency_of(ctx: Ctx, doc: dict) -> str:
    """A stored object's currency; objects saved before multicurrency carry home (or nothing)."""
    return code_of(doc.get("CurrencyRef")) or home_currency(ctx)


def name_currency(ctx: Ctx, given: object, old: dict | None, what: str) -> str:
    """Currency of a customer or account: home unless set, fixed once set (SCR)."""
    home = home_currency(ctx)
    code = code_of(given)
    current = currency_of(ctx, old) if old else None
    if code is None:
        return current or home
    if current is not None and code != current:
        raise business_validation(f"You can't change the currency of this {what} once it is set")
    if code != home and not multicurrency(ctx):
        raise business_validation(f"Multicurrency is not turned on: the {what} must be in {home}")
    return code


def account_currency(ctx: Ctx, account_type: str, given: object, old: dict | None) -> str:
    code = name_currency(ctx, given, old, "account")
    if code != home_currency(ctx) and account_type in HOME_ONLY_ACCOUNT_TYPES:
        raise business_validation(f"A {account_type} account is in home currency ({home_currency(ctx)})")
    return code


def txn_currency(ctx: Ctx, given: object, customer: dict) -> str:
    """A sales document or payment is in its customer's currency (the A/R account is per currency)."""
    wanted = currency_of(ctx, customer)
    code = code_of(given)
    if code is not None and code != wanted:
        raise business_validation(f"The transaction needs to be in the same currency as the A/R and A/P accounts "
                                  f"you use: the customer is in {wanted}, the transaction in {code}")
    return wanted


def exchange_rate(ctx: Ctx, currency: str, given: object) -> Decimal:
    if currency == home_currency(ctx):
        return ONE
    if given in (None, ""):
        return ONE  # R-pay: "default 1"
    rate = to_decimal(given)
    if rate <= 0:
        raise business_validation("The exchange rate must be more than zero")
    return rate


def stamp(ctx: Ctx, doc: dict, currency: str, given_rate: object) -> Decimal:
    """Set CurrencyRef, and ExchangeRate when multicurrency is on; returns the rate."""
    rate = exchange_rate(ctx, currency, given_rate)
    doc["CurrencyRef"] = currency_ref(currency)
    if multicurrency(ctx):
        doc["ExchangeRate"] = rate
    else:
        doc.pop("ExchangeRate", None)
    return rate


def home_amount(amount: object, rate: object) -> Decimal:
    return money(to_decimal(amount) * to_decimal(rate if rate is not None else 1))


def check_account_takes(ctx: Ctx, account: dict, currency: str, what: str) -> None:
    """H-fx: money in `currency` goes into a home-currency account or one in `currency`."""
    account_cur = currency_of(ctx, account)
    if account_cur not in (home_currency(ctx), currency):
        raise business_validation(f"The currency of the account must be either in home currency or the "
                                  f"transaction currency: {what} {account.get('Name')!r} is in {account_cur}, "
                                  f"the transaction in {currency}")
