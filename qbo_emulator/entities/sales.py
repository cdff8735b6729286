"""Invoice and CreditMemo (qbo-reference §5.1, §5.6): sales documents with lines, tax and DocNumber.

What the server fills in (fx:invoice_create_response): DocNumber (next integer), TxnDate, DueDate
(+30 days or from SalesTermRef), Line Ids, a `SubTotalLineDetail` line without Id, TxnTaxDetail,
TotalAmt, Balance, the company's custom field, EmailStatus/PrintStatus, LinkedTxn [].
Balance of an Invoice (RemainingCredit of a CreditMemo) is TotalAmt minus what Payments applied;
the applied part is TotalAmt - Balance of the stored document, so a full update keeps it.
"""

from __future__ import annotations

from decimal import Decimal

from qbo_emulator.entities.account import invalid_enum
from qbo_emulator.entities.common import Ctx, EntityType, load, ref, ref_id, save
from qbo_emulator.entities.currency import home_amount, multicurrency, stamp, txn_currency
from qbo_emulator.faults import (
    QboFault,
    business_validation,
    duplicate_doc_number,
    object_not_found,
    required_param,
)
from qbo_emulator.wire import ZERO, add_days, money, to_decimal, today_pacific

CUSTOM_FIELD = [{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}]
TERMS = {"1": ("Due on receipt", 0), "2": ("Net 15", 15), "3": ("Net 30", 30), "4": ("Net 60", 60)}
ITEMS = {"1": "Services", "2": "Hours", "3": "Consulting", "4": "Design", "5": "Hardware", "6": "Installation"}
TAX_RATE = Decimal("8")  # TaxRateRef "3", 8 % as in the sandbox company (fx:airbyte_record_invoice_12)
LINE_TYPES = {"SalesItemLineDetail", "DescriptionOnly", "DiscountLineDetail", "SubTotalLineDetail",
              "GroupLineDetail"}

COMMON_KNOWN = ["DocNumber", "TxnDate", "CurrencyRef", "PrivateNote", "Line", "TxnTaxDetail", "CustomerRef",
                "CustomerMemo", "BillAddr", "ShipAddr", "ShipFromAddr", "SalesTermRef", "DueDate", "TotalAmt",
                "ApplyTaxAfterDiscount", "PrintStatus", "EmailStatus", "BillEmail", "BillEmailCc", "BillEmailBcc",
                "Balance", "CustomField", "ClassRef", "DepartmentRef", "ExchangeRate", "GlobalTaxCalculation",
                "HomeTotalAmt", "HomeBalance", "TxnSource", "ShipDate", "TrackingNum", "ShipMethodRef",
                "PaymentMethodRef", "PaymentRefNum", "DepositToAccountRef", "DeliveryInfo", "LinkedTxn",
                "AutoDocNumber", "TxnStatus", "RecurDataRef", "TaxExemptionRef", "ProjectRef", "SalesRepRef",
                "PONumber", "FOB", "TransactionLocationType", "Tag", "RemainingCredit"]


def _line(raw: dict, n: int) -> dict:
    detail_type = raw.get("DetailType")
    if detail_type not in LINE_TYPES:
        if detail_type is None:
            raise required_param("Line.DetailType")
        raise invalid_enum("Line.DetailType", detail_type)
    out: dict = {"Id": str(n), "LineNum": n}
    if raw.get("Description") is not None:
        out["Description"] = raw["Description"]
    detail = dict(raw.get(detail_type) or {})
    if detail_type == "SalesItemLineDetail":
        qty, price = detail.get("Qty"), detail.get("UnitPrice")
        if raw.get("Amount") is None and qty is not None and price is not None:
            amount = to_decimal(qty) * to_decimal(price)
        elif raw.get("Amount") is None:
            raise required_param("Line.Amount")
        else:
            amount = to_decimal(raw["Amount"])
        item = detail.get("ItemRef") or {"value": "1"}
        item_id = str(item.get("value", "1"))
        detail["ItemRef"] = ref(item_id, item.get("name") or ITEMS.get(item_id, "Services"))
        detail.setdefault("TaxCodeRef", {"value": "NON"})
        ordered = {k: detail[k] for k in ("ItemRef", "UnitPrice", "Qty", "TaxCodeRef") if k in detail}
        ordered.update((k, v) for k, v in detail.items() if k not in ordered)
        detail = ordered
    else:
        amount = to_decimal(raw.get("Amount"))
    out["Amount"] = money(amount)
    out["DetailType"] = detail_type
    out[detail_type] = detail
    return out


def _lines(ctx: Ctx, body: dict) -> tuple[list[dict], Decimal, Decimal, Decimal]:
    """(lines incl. subtotal, subtotal, discount, taxable amount)."""
    raw_lines = [ln for ln in body.get("Line") or [] if ln.get("DetailType") != "SubTotalLineDetail"]
    if not raw_lines:
        raise required_param("Line")
    lines, subtotal, taxable, discount = [], ZERO, ZERO, ZERO
    for n, raw in enumerate(raw_lines, start=1):
        line = _line(raw, n)
        if line["DetailType"] == "DiscountLineDetail":
            detail = line["DiscountLineDetail"]
            if detail.get("PercentBased"):
                line["Amount"] = money(subtotal * to_decimal(detail.get("DiscountPercent")) / 100)
            discount += line["Amount"]
        elif line["DetailType"] == "SalesItemLineDetail":
            subtotal += line["Amount"]
            if line["SalesItemLineDetail"]["TaxCodeRef"].get("value") == "TAX":
                taxable += line["Amount"]
        lines.append(line)
    lines.append({"Amount": money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    return lines, subtotal, discount, taxable


def _tax(body: dict, taxable: Decimal) -> tuple[dict, Decimal]:
    given = body.get("TxnTaxDetail") or {}
    code = given.get("TxnTaxCodeRef")
    if not code or taxable == 0:
        return ({"TxnTaxCodeRef": code, "TotalTax": 0} if code else {"TotalTax": 0}), ZERO
    tax = money(taxable * TAX_RATE / 100)
    return {"TxnTaxCodeRef": {"value": str(code.get("value"))}, "TotalTax": tax,
            "TaxLine": [{"Amount": tax, "DetailType": "TaxLineDetail",
                         "TaxLineDetail": {"TaxRateRef": {"value": "3"}, "PercentBased": True,
                                           "TaxPercent": 8, "NetAmountTaxable": money(taxable)}}]}, tax


class SalesDocType(EntityType):
    """Invoice and CreditMemo share everything except how the open amount is named."""

    open_field: str = "Balance"

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        doc = {k: v for k, v in body.items() if k in self.known}
        customer = active_customer(ctx, doc.get("CustomerRef"))
        doc["CustomerRef"] = ref(customer["Id"], customer["DisplayName"])
        lines, subtotal, discount, taxable = _lines(ctx, doc)
        tax_detail, tax = _tax(doc, taxable)
        total = money(subtotal - discount + tax)
        doc.update(Line=lines, TxnTaxDetail=tax_detail, TotalAmt=total,
                   CustomField=doc.get("CustomField") or CUSTOM_FIELD)
        for read_only in ("HomeTotalAmt", "HomeBalance"):
            doc.pop(read_only, None)
        rate = stamp(ctx, doc, txn_currency(ctx, doc.get("CurrencyRef"), customer), doc.get("ExchangeRate"))
        doc["TxnDate"] = str(doc.get("TxnDate") or (old or {}).get("TxnDate") or today_pacific().isoformat())
        doc["DocNumber"] = self._doc_number(ctx, doc, old)
        for key in ("BillAddr", "ShipAddr"):
            if key not in doc and customer.get(key):
                doc[key] = customer[key]
        doc.setdefault("ApplyTaxAfterDiscount", False)
        doc.setdefault("PrintStatus", "NeedToPrint")
        doc.setdefault("EmailStatus", "NotSet")
        if doc["PrintStatus"] not in ("NotSet", "NeedToPrint", "PrintComplete"):
            raise invalid_enum("PrintStatus", doc["PrintStatus"])
        if doc["EmailStatus"] not in ("NotSet", "NeedToSend", "EmailSent"):
            raise invalid_enum("EmailStatus", doc["EmailStatus"])
        applied = ZERO if old is None else to_decimal(old["TotalAmt"]) - to_decimal(old.get(self.open_field))
        if applied > total:
            raise business_validation(f"The new total {total} is less than the {applied} already applied to this "
                                      "transaction. Remove the payment first.")
        self.finish(ctx, doc, old, money(total - applied))
        if multicurrency(ctx):  # R-dep, SCR: read-only home amounts, multicurrency only
            doc["HomeTotalAmt"] = home_amount(total, rate)
            if self.name == "Invoice":
                doc["HomeBalance"] = home_amount(doc["Balance"], rate)
        if old:
            doc["Id"] = old["Id"]
        return doc

    def finish(self, ctx: Ctx, doc: dict, old: dict | None, open_amount: Decimal) -> None:
        raise NotImplementedError

    def _doc_number(self, ctx: Ctx, doc: dict, old: dict | None) -> str:
        """Auto-number when missing; 6140 on a duplicate unless `include=allowduplicatedocnum` (§5.1)."""
        given = doc.get("DocNumber")
        if given in (None, ""):
            if old and old.get("DocNumber"):
                return old["DocNumber"]
            while True:
                candidate = str(ctx.store.next_value(ctx.realm, "docnum", start=1001))
                if ctx.store.find_doc_number(ctx.realm, self.name, candidate) is None:
                    return candidate
        given = str(given)
        if len(given) > 21:
            raise QboFault("6000", "A business validation error has occurred while processing your request",
                           "Business Validation Error: DocNumber is longer than 21 characters", element="DocNumber")
        check = ctx.cfg.duplicate_docnumber_check and "allowduplicatedocnum" not in ctx.include
        if check and (old is None or old.get("DocNumber") != given):
            other = ctx.store.find_doc_number(ctx.realm, self.name, given)
            if other is not None and (old is None or str(other) != old["Id"]):
                raise duplicate_doc_number(given, self.name, str(other))
        return given

    def columns(self, doc: dict) -> tuple[bool, str | None, int | None, str | None]:
        return True, doc.get("DocNumber"), int(doc["CustomerRef"]["value"]), None

    def effects(self, ctx: Ctx, old: dict | None, new: dict | None) -> None:
        for doc in (old, new):
            if doc:
                ctx.dirty_customers.add(int(doc["CustomerRef"]["value"]))


def active_customer(ctx: Ctx, reference: dict | None) -> dict:
    if not reference:
        raise required_param("CustomerRef")
    customer = load(ctx, "Customer", ref_id(reference, "CustomerRef"))
    if customer is None or not customer.get("Active", True):
        raise object_not_found(f"CustomerRef={reference.get('value')}")
    return customer


class InvoiceType(SalesDocType):
    name = "Invoice"
    voidable = True
    known = ["AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment",
             "InvoiceLink", "EInvoiceStatus", "Deposit", "FreeFormAddress", *COMMON_KNOWN]
    order = ["AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment",
             "domain", "sparse", "Id", "SyncToken", "MetaData", "CustomField", "DocNumber", "TxnDate",
             "CurrencyRef", "ExchangeRate", "PrivateNote", "LinkedTxn", "Line", "TxnTaxDetail", "CustomerRef",
             "CustomerMemo", "BillAddr", "ShipAddr", "SalesTermRef", "DueDate", "TotalAmt", "HomeTotalAmt",
             "ApplyTaxAfterDiscount", "PrintStatus", "EmailStatus", "BillEmail", "Balance", "HomeBalance"]

    def finish(self, ctx: Ctx, doc: dict, old: dict | None, open_amount: Decimal) -> None:
        for flag in ("AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment"):
            doc.setdefault(flag, False)
        term = doc.get("SalesTermRef")
        days = 30
        if term:
            name, days = TERMS.get(str(term.get("value")), (term.get("name") or "Net 30", 30))
            doc["SalesTermRef"] = ref(term.get("value"), name)
        doc["DueDate"] = str(doc.get("DueDate") or add_days(doc["TxnDate"], days))
        doc["LinkedTxn"] = list((old or {}).get("LinkedTxn", []))  # read-only: kept in step by Payments
        doc["Balance"] = open_amount

    def voided(self, ctx: Ctx, old: dict) -> dict:
        """fx:invoice_void_response: amounts 0, PrivateNote "Voided", LinkedTxn [], no status field."""
        doc = dict(old)
        doc["Line"] = [{**ln, "Amount": 0} for ln in old["Line"]]
        tax = dict(old.get("TxnTaxDetail") or {})
        tax["TotalTax"] = 0
        if "TaxLine" in tax:
            tax["TaxLine"] = [{**t, "Amount": 0} for t in tax["TaxLine"]]
        doc.update(TxnTaxDetail=tax, TotalAmt=0, Balance=0, PrivateNote="Voided", LinkedTxn=[])
        for home in ("HomeTotalAmt", "HomeBalance"):
            if home in doc:
                doc[home] = 0
        return doc

    def effects(self, ctx: Ctx, old: dict | None, new: dict | None) -> None:
        super().effects(ctx, old, new)
        if old and (new is None or new.get("PrivateNote") == "Voided" and new.get("TotalAmt") == 0):
            unlink_payments(ctx, old)


class CreditMemoType(SalesDocType):
    name = "CreditMemo"
    open_field = "RemainingCredit"
    known = ["RemainingCredit", "InvoiceRef", *COMMON_KNOWN]
    order = ["RemainingCredit", "domain", "sparse", "Id", "SyncToken", "MetaData", "CustomField", "DocNumber",
             "TxnDate", "CurrencyRef", "PrivateNote", "Line", "TxnTaxDetail", "CustomerRef", "CustomerMemo",
             "BillAddr", "ShipAddr", "TotalAmt", "ApplyTaxAfterDiscount", "PrintStatus", "EmailStatus", "BillEmail",
             "Balance"]

    def finish(self, ctx: Ctx, doc: dict, old: dict | None, open_amount: Decimal) -> None:
        doc.pop("LinkedTxn", None)  # fx:airbyte_record_creditmemo_73 (fully applied) has none
        doc["RemainingCredit"] = open_amount
        doc["Balance"] = open_amount

    def effects(self, ctx: Ctx, old: dict | None, new: dict | None) -> None:
        super().effects(ctx, old, new)
        if old and new is None and to_decimal(old["RemainingCredit"]) != to_decimal(old["TotalAmt"]):
            raise business_validation("This credit memo has been applied to an invoice. Remove it from the "
                                      "payment that applies it first.")


INVOICE = InvoiceType()
CREDIT_MEMO = CreditMemoType()


def unlink_payments(ctx: Ctx, invoice: dict) -> None:
    """Deleting or voiding an invoice leaves its payments as unapplied credit (QBO UI behaviour)."""
    from qbo_emulator.entities.payment import PAYMENT

    for link in invoice.get("LinkedTxn", []):
        if link.get("TxnType") != "Payment":
            continue
        payment = load(ctx, "Payment", int(link["TxnId"]))
        if payment is None:
            continue
        freed, lines = ZERO, []
        for line in payment.get("Line", []):
            kept = [lt for lt in line.get("LinkedTxn", [])
                    if not (lt.get("TxnType") == "Invoice" and lt.get("TxnId") == invoice["Id"])]
            if len(kept) == len(line.get("LinkedTxn", [])):
                lines.append(line)
            elif kept:
                lines.append({**line, "LinkedTxn": kept})
            else:
                freed += to_decimal(line["Amount"])
        updated = {**payment, "Line": lines, "UnappliedAmt": money(to_decimal(payment["UnappliedAmt"]) + freed)}
        save(ctx, PAYMENT, updated, payment, operation="Update")
        ctx.dirty_customers.add(int(payment["CustomerRef"]["value"]))
