"""Customer (qbo-reference §5.2): a name-list entity, deactivated rather than deleted.

DisplayName is unique (6240). Deactivation appends " (deleted)" (seen on Account in
fx:account_read_inactive; unverified for Customer, switch `inactive_name_suffix`), and fails with
an open balance. `Balance` is maintained from the customer's transactions and changes
LastUpdatedTime without bumping SyncToken (fx:query_customer_by_displayname_escaped_quote: SyncToken
"0" but LastUpdatedTime equal to the invoice create time).
"""

from __future__ import annotations

from decimal import Decimal

from qbo_emulator.entities.common import Ctx, EntityType, load, ref, ref_id, save
from qbo_emulator.entities.currency import currency_ref, name_currency
from qbo_emulator.faults import QboFault, duplicate_name, object_not_found, required_param
from qbo_emulator.wire import ZERO, loads, money, to_decimal

SUFFIX = " (deleted)"


def strip_suffix(name: str) -> str:
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


class CustomerType(EntityType):
    name = "Customer"
    has_active = True
    deletable = False
    known = ["Taxable", "BillAddr", "ShipAddr", "OtherAddr", "Job", "BillWithParent", "ParentRef", "Level",
             "Balance", "BalanceWithJobs", "OpenBalanceDate", "CurrencyRef", "PreferredDeliveryMethod",
             "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "FullyQualifiedName", "CompanyName",
             "DisplayName", "PrintOnCheckName", "Active", "PrimaryPhone", "AlternatePhone", "Mobile", "Fax",
             "PrimaryEmailAddr", "WebAddr", "DefaultTaxCodeRef", "Notes", "SalesTermRef", "PaymentMethodRef",
             "ResaleNum", "TaxExemptionReasonId", "PrimaryTaxIdentifier", "SecondaryTaxIdentifier",
             "BusinessNumber", "GSTIN", "GSTRegistrationType", "CustomerTypeRef", "Source", "ARAccountRef", "V4IDPseudonym", "IsProject", "ClientEntityId"]
    order = ["Taxable", "BillAddr", "ShipAddr", "Notes", "Job", "BillWithParent", "ParentRef", "Level", "Balance",
             "BalanceWithJobs", "CurrencyRef", "PreferredDeliveryMethod", "domain", "sparse", "Id", "SyncToken",
             "MetaData", "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "FullyQualifiedName",
             "CompanyName", "DisplayName", "PrintOnCheckName", "Active", "PrimaryPhone", "Mobile", "Fax",
             "PrimaryEmailAddr", "WebAddr", "DefaultTaxCodeRef"]

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        doc = {k: v for k, v in body.items() if k in self.known}
        active = bool(doc.get("Active", True))
        display = doc.get("DisplayName") or " ".join(
            str(doc[k]) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix") if doc.get(k)
        ) or doc.get("CompanyName")
        if not display:
            raise required_param("DisplayName")
        display = strip_suffix(str(display))
        if ":" in display:
            raise QboFault("6000", "A business validation error has occurred while processing your request",
                           "Business Validation Error: The name can't contain a colon (:).", element="DisplayName")
        if not active and ctx.cfg.inactive_name_suffix:
            display += SUFFIX
        self._check_unique(ctx, display, old)
        if not active and (old is None or old.get("Active", True)):
            balance = to_decimal(old.get("Balance")) if old else ZERO
            if balance != 0:
                raise QboFault("6000", "Delete List Has Balance Error",
                               "The entity you are trying to delete has an open balance. : This customer cannot "
                               "be deleted because it has a non-zero balance")
        doc["DisplayName"] = display
        doc["Active"] = active
        parent_ref = doc.get("ParentRef")
        if parent_ref:
            parent = load(ctx, "Customer", ref_id(parent_ref, "ParentRef"))
            if parent is None:
                raise object_not_found(f"ParentRef={parent_ref.get('value')}")
            doc["ParentRef"] = ref(parent["Id"])
            doc["Job"] = True
            doc["Level"] = int(parent.get("Level", 0)) + 1
            doc["FullyQualifiedName"] = f"{parent['FullyQualifiedName']}:{display}"
        else:
            doc.pop("Level", None)
            doc["Job"] = False
            doc["FullyQualifiedName"] = display
        doc.setdefault("BillWithParent", False)
        doc.setdefault("Taxable", True)
        if doc["Taxable"]:
            doc.setdefault("DefaultTaxCodeRef", {"value": "2"})
        doc["CurrencyRef"] = currency_ref(name_currency(ctx, doc.get("CurrencyRef"), old, "customer"))
        doc.setdefault("PreferredDeliveryMethod", "Print")
        doc.setdefault("PrintOnCheckName", doc.get("CompanyName") or display)
        balance = money(to_decimal(old.get("Balance"))) if old else ZERO
        doc["Balance"] = balance
        doc["BalanceWithJobs"] = money(to_decimal(old.get("BalanceWithJobs", balance))) if old else ZERO
        if old:
            doc["Id"] = old["Id"]
        return doc

    def _check_unique(self, ctx: Ctx, display: str, old: dict | None) -> None:
        hit = ctx.store.find_name(ctx.realm, ["Customer"], display.casefold())
        if hit and (old is None or str(hit[1]) != old["Id"]):
            raise duplicate_name("Another customer is already using this name. Please use a different name.")

    def columns(self, doc: dict) -> tuple[bool, str | None, int | None, str | None]:
        return bool(doc.get("Active", True)), None, None, doc["DisplayName"].casefold()


CUSTOMER = CustomerType()

# Transactions that make up a customer's open balance.
BALANCE_SOURCES = ("Invoice", "CreditMemo", "Payment")


def customer_balance(docs: list[tuple[str, dict]]) -> Decimal:
    """Open invoices minus unused credit and unapplied payments."""
    total = ZERO
    for entity, doc in docs:
        if entity == "Invoice":
            total += to_decimal(doc.get("Balance"))
        elif entity == "CreditMemo":
            total -= to_decimal(doc.get("RemainingCredit"))
        elif entity == "Payment":
            total -= to_decimal(doc.get("UnappliedAmt"))
    return money(total)


def recompute_customers(ctx: Ctx) -> None:
    for cid in sorted(ctx.dirty_customers):
        customer = load(ctx, "Customer", cid)
        if customer is None:
            continue
        docs = [(e, loads(d)) for e, d in ctx.store.customer_docs(ctx.realm, cid, BALANCE_SOURCES)]
        balance = customer_balance(docs)
        if to_decimal(customer.get("Balance")) != balance:
            updated = {**customer, "Balance": balance, "BalanceWithJobs": balance}
            save(ctx, CUSTOMER, updated, customer, operation=None, bump=False)
    ctx.dirty_customers.clear()
