"""Payment (qbo-reference §5.3): money received, applied to Invoices (and CreditMemos).

- `DepositToAccountRef` defaults to Undeposited Funds (PHP Finance.xsd).
- `Line[].LinkedTxn` applies amounts; each target's Balance and LinkedTxn follow (fx:airbyte_record_
  invoice_12_paid_by_two_payments: Balance 0, LinkedTxn lists both payments, SyncToken bumped).
- `UnappliedAmt` = TotalAmt - (applied to invoices - credit used).
- A CreditMemo line (TxnType "CreditMemo") uses credit; a Payment can then have TotalAmt 0
  (§14: the exact amounts/signs are unverified; we take line amounts as positive credit used).
- Once a Deposit links it (top-level LinkedTxn TxnType "Deposit") it is locked: 6540.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from qbo_emulator.entities.account import account_ref
from qbo_emulator.entities.common import Ctx, EntityType, load, ref, ref_id, save
from qbo_emulator.entities.currency import check_account_takes, currency_of, home_amount, stamp, txn_currency
from qbo_emulator.entities.sales import CREDIT_MEMO, INVOICE, SalesDocType, active_customer
from qbo_emulator.faults import business_validation, deposited_locked, object_not_found, required_param
from qbo_emulator.wire import ZERO, money, to_decimal, today_pacific

TARGETS: dict[str, SalesDocType] = {"Invoice": INVOICE, "CreditMemo": CREDIT_MEMO}


def undeposited_funds(ctx: Ctx) -> dict:
    row = ctx.store.execute(
        "SELECT id FROM entities WHERE realm = ? AND entity = 'Account' AND "
        "json_extract(doc, '$.AccountSubType') = 'UndepositedFunds' ORDER BY active DESC, id LIMIT 1",
        (ctx.realm,)).fetchone()
    if row is None:
        raise business_validation("This company has no Undeposited Funds account")
    return ref(row[0])


def applications(doc: dict | None) -> dict[tuple[str, str], Decimal]:
    """{(TxnType, TxnId): amount} applied by a payment document."""
    out: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    if not doc or doc.get("PrivateNote") == "Voided" and not doc.get("Line"):
        return out
    for line in doc.get("Line", []):
        for link in line.get("LinkedTxn", []):
            out[(link["TxnType"], link["TxnId"])] += to_decimal(line["Amount"])
    return out


def is_deposited(doc: dict) -> bool:
    return any(lt.get("TxnType") == "Deposit" for lt in doc.get("LinkedTxn", []))


class PaymentType(EntityType):
    name = "Payment"
    voidable = True
    known = ["CustomerRef", "DepositToAccountRef", "TotalAmt", "UnappliedAmt", "ProcessPayment", "TxnDate",
             "CurrencyRef", "ExchangeRate", "PrivateNote", "PaymentRefNum", "PaymentMethodRef", "ARAccountRef",
             "CreditCardPayment", "TxnSource", "TxnStatus", "LinkedTxn", "Line", "DocNumber", "TransactionLocationType",
             "ProjectRef", "TaxExemptionRef"]
    order = ["CustomerRef", "DepositToAccountRef", "PaymentMethodRef", "PaymentRefNum", "TotalAmt", "UnappliedAmt",
             "ProcessPayment", "domain", "sparse", "Id", "SyncToken", "MetaData", "TxnDate", "CurrencyRef",
             "ExchangeRate", "PrivateNote", "LinkedTxn", "Line"]

    def check_mutable(self, ctx: Ctx, old: dict) -> None:
        if is_deposited(old):
            raise deposited_locked()

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        doc = {k: v for k, v in body.items() if k in self.known}
        customer = active_customer(ctx, doc.get("CustomerRef"))
        doc["CustomerRef"] = ref(customer["Id"], customer["DisplayName"])
        if doc.get("TotalAmt") is None:
            raise required_param("TotalAmt")
        total = money(to_decimal(doc["TotalAmt"]))
        if total < 0:
            raise business_validation("The payment amount can't be negative")
        currency = txn_currency(ctx, doc.get("CurrencyRef"), customer)
        if doc.get("DepositToAccountRef"):
            account, _ = account_ref(ctx, doc["DepositToAccountRef"], "DepositToAccountRef")
            check_account_takes(ctx, account, currency, "DepositToAccountRef")
            doc["DepositToAccountRef"] = ref(account["Id"])
        else:
            doc["DepositToAccountRef"] = undeposited_funds(ctx)  # home currency: takes any (H-fx)
        lines = [_line(raw) for raw in doc.get("Line") or []]
        invoices = sum((ln["Amount"] for ln in lines if ln["LinkedTxn"][0]["TxnType"] == "Invoice"), ZERO)
        credits = sum((ln["Amount"] for ln in lines if ln["LinkedTxn"][0]["TxnType"] == "CreditMemo"), ZERO)
        if invoices - credits > total:
            raise business_validation(f"The amount applied ({money(invoices - credits)}) is more than the "
                                      f"payment amount ({total})")
        if credits > invoices:
            raise business_validation("The credit applied is more than the amount applied to invoices")
        doc.update(TotalAmt=total, UnappliedAmt=money(total - invoices + credits), ProcessPayment=False,
                   Line=lines)
        stamp(ctx, doc, currency, doc.get("ExchangeRate"))
        doc["TxnDate"] = str(doc.get("TxnDate") or (old or {}).get("TxnDate") or today_pacific().isoformat())
        deposit_links = (old or {}).get("LinkedTxn", [])  # read-only; set by Deposits
        if deposit_links:
            doc["LinkedTxn"] = deposit_links
        else:
            doc.pop("LinkedTxn", None)
        if old:
            doc["Id"] = old["Id"]
        return doc

    def voided(self, ctx: Ctx, old: dict) -> dict:
        """fx:payment_void_response.xml: TotalAmt 0, UnappliedAmt 0, PrivateNote "Voided", no lines."""
        doc = {k: v for k, v in old.items() if k not in ("Line", "LinkedTxn")}
        doc.update(TotalAmt=0, UnappliedAmt=0, PrivateNote="Voided")
        return doc

    def effects(self, ctx: Ctx, old: dict | None, new: dict | None) -> None:
        """Move each target's open amount by the change in what this payment applies to it."""
        before, after = applications(old), applications(new)
        payment_id = (new or old or {}).get("Id")
        customer_id = (new or old)["CustomerRef"]["value"]  # type: ignore[index]
        for key in sorted(set(before) | set(after)):
            txn_type, txn_id = key
            delta = after.get(key, ZERO) - before.get(key, ZERO)
            target_type = TARGETS[txn_type]
            target = load(ctx, txn_type, int(txn_id))
            if target is None:
                if key in after:
                    raise object_not_found(f"{txn_type} Id={txn_id}")
                continue
            if key in after and target["CustomerRef"]["value"] != customer_id:
                raise business_validation(f"{txn_type} {txn_id} belongs to a different customer")
            if key in after and currency_of(ctx, target) != currency_of(ctx, new):  # type: ignore[arg-type]
                raise business_validation(f"The transaction needs to be in the same currency as the A/R and A/P "
                                          f"accounts you use: {txn_type} {txn_id} is in {currency_of(ctx, target)}, "
                                          f"the payment in {currency_of(ctx, new)}")  # type: ignore[arg-type]
            open_amount = to_decimal(target.get(target_type.open_field))
            if delta > open_amount:
                raise business_validation(f"The payment amount applied to {txn_type} {txn_id} ({after[key]}) is more "
                                          f"than its open balance ({money(open_amount + before.get(key, ZERO))})")
            updated = dict(target)
            remaining = money(open_amount - delta)
            updated[target_type.open_field] = remaining
            updated["Balance"] = remaining
            if "HomeBalance" in target:
                updated["HomeBalance"] = home_amount(remaining, target.get("ExchangeRate"))
            if txn_type == "Invoice":
                links = [lt for lt in target.get("LinkedTxn", [])
                         if not (lt.get("TxnType") == "Payment" and lt.get("TxnId") == payment_id)]
                if key in after and payment_id:
                    links.insert(0, {"TxnId": payment_id, "TxnType": "Payment"})
                updated["LinkedTxn"] = links
            save(ctx, target_type, updated, target, operation="Update")
            ctx.dirty_customers.add(int(target["CustomerRef"]["value"]))
        for doc in (old, new):
            if doc:
                ctx.dirty_customers.add(int(doc["CustomerRef"]["value"]))

    def columns(self, doc: dict) -> tuple[bool, str | None, int | None, str | None]:
        return True, None, int(doc["CustomerRef"]["value"]), None


def _line(raw: dict) -> dict:
    links = raw.get("LinkedTxn") or []
    if len(links) != 1:
        raise required_param("Line.LinkedTxn")
    link = links[0]
    txn_type = link.get("TxnType")
    if txn_type not in TARGETS:
        raise business_validation(f"A payment line can't link TxnType={txn_type}")
    txn_id = str(ref_id({"value": link.get("TxnId")}, "Line.LinkedTxn.TxnId"))
    amount = money(to_decimal(raw.get("Amount")))
    if amount <= 0:
        raise business_validation("A payment line amount must be more than zero")
    return {"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": txn_type}]}


PAYMENT = PaymentType()
