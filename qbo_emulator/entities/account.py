"""Account (qbo-reference §5.5): chart of accounts, deactivated rather than deleted."""

from __future__ import annotations

from qbo_emulator.entities.common import Ctx, EntityType, load, ref, ref_id
from qbo_emulator.entities.currency import account_currency, currency_ref
from qbo_emulator.entities.customer import SUFFIX, strip_suffix
from qbo_emulator.faults import QboFault, duplicate_name, object_not_found, required_param
from qbo_emulator.wire import ZERO, money, to_decimal

# AccountTypeEnum → (Classification, default AccountSubType) (PHP Finance.xsd, §2).
ACCOUNT_TYPES = {
    "Bank": ("Asset", "Checking"),
    "Accounts Receivable": ("Asset", "AccountsReceivable"),
    "Other Current Asset": ("Asset", "OtherCurrentAssets"),
    "Fixed Asset": ("Asset", "OtherFixedAssets"),
    "Other Asset": ("Asset", "OtherLongTermAssets"),
    "Accounts Payable": ("Liability", "AccountsPayable"),
    "Credit Card": ("Liability", "CreditCard"),
    "Other Current Liability": ("Liability", "OtherCurrentLiabilities"),
    "Long Term Liability": ("Liability", "OtherLongTermLiabilities"),
    "Equity": ("Equity", "OpeningBalanceEquity"),
    "Income": ("Revenue", "ServiceFeeIncome"),
    "Cost of Goods Sold": ("Expense", "SuppliesMaterialsCogs"),
    "Expense": ("Expense", "OtherMiscellaneousServiceCost"),
    "Other Income": ("Revenue", "OtherMiscellaneousIncome"),
    "Other Expense": ("Expense", "OtherMiscellaneousExpense"),
    "Non-Posting": ("Asset", "Estimate"),
}


def invalid_enum(field: str, value: object) -> QboFault:
    return QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element=field)


class AccountType(EntityType):
    name = "Account"
    has_active = True
    deletable = False
    known = ["Name", "SubAccount", "ParentRef", "Description", "FullyQualifiedName", "Active", "Classification",
             "AccountType", "AccountSubType", "AcctNum", "CurrentBalance", "CurrentBalanceWithSubAccounts",
             "CurrencyRef", "TaxCodeRef", "AccountAlias", "TxnLocationType", "OpeningBalance",
             "OpeningBalanceDate"]
    order = ["Name", "SubAccount", "ParentRef", "Description", "FullyQualifiedName", "Active", "Classification",
             "AccountType", "AccountSubType", "AcctNum", "CurrentBalance", "CurrentBalanceWithSubAccounts",
             "CurrencyRef", "domain", "sparse", "Id", "SyncToken", "MetaData"]

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        doc = {k: v for k, v in body.items() if k in self.known and k not in ("OpeningBalance", "OpeningBalanceDate")}
        if not doc.get("Name"):
            raise required_param("Name")
        account_type = doc.get("AccountType") or (old or {}).get("AccountType")
        if not account_type:
            raise required_param("AccountType")
        if account_type not in ACCOUNT_TYPES:
            raise invalid_enum("AccountType", account_type)
        classification, default_sub = ACCOUNT_TYPES[account_type]
        active = bool(doc.get("Active", True))
        name = strip_suffix(str(doc["Name"]))
        if not active and ctx.cfg.inactive_name_suffix:
            name += SUFFIX
        hit = ctx.store.find_name(ctx.realm, ["Account"], name.casefold())
        if hit and (old is None or str(hit[1]) != old["Id"]):
            raise duplicate_name("Another account is already using this name. Please use a different name.")
        doc.update(Name=name, Active=active, AccountType=account_type, Classification=classification)
        doc.setdefault("AccountSubType", default_sub)
        parent_ref = doc.get("ParentRef")
        if parent_ref:
            parent = load(ctx, "Account", ref_id(parent_ref, "ParentRef"))
            if parent is None:
                raise object_not_found(f"ParentRef={parent_ref.get('value')}")
            doc["ParentRef"] = ref(parent["Id"])
            doc["SubAccount"] = True
            doc["FullyQualifiedName"] = f"{parent['FullyQualifiedName']}:{name}"
        else:
            doc["SubAccount"] = False
            doc["FullyQualifiedName"] = name
        balance = money(to_decimal((old or {}).get("CurrentBalance", body.get("OpeningBalance") or 0)))
        doc["CurrentBalance"] = balance if old or body.get("OpeningBalance") else ZERO
        doc["CurrentBalanceWithSubAccounts"] = doc["CurrentBalance"]
        doc["CurrencyRef"] = currency_ref(account_currency(ctx, account_type, doc.get("CurrencyRef"), old))
        if old:
            doc["Id"] = old["Id"]
        return doc

    def columns(self, doc: dict) -> tuple[bool, str | None, int | None, str | None]:
        return bool(doc.get("Active", True)), None, None, doc["Name"].casefold()


ACCOUNT = AccountType()


def account_ref(ctx: Ctx, reference: dict, what: str, *, with_name: bool = True) -> tuple[dict, dict]:
    """Resolve an AccountRef: the account must exist and be active (2500 otherwise)."""
    account = load(ctx, "Account", ref_id(reference, what))
    if account is None or not account.get("Active", True):
        from qbo_emulator.faults import invalid_reference
        raise invalid_reference(f"{what}={reference.get('value')}")
    return account, (ref(account["Id"], account["Name"]) if with_name else ref(account["Id"]))
