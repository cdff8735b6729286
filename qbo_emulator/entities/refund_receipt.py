"""RefundReceipt (qbo-reference §15.2; docs/refunds.md): money paid back to a customer, from a bank or
Other Current Asset account (`DepositToAccountRef`, required: "Account from which payment money is
refunded"). A sales document like an Invoice (lines with `SalesItemLineDetail.ItemRef` pick the income
account, `TotalAmt` computed, DocNumber auto-numbered), but it moves no A/R: no Balance is applied to
any invoice, so a paid invoice stays paid. Amounts are positive; no void is documented (R-rr), so the
emulator offers none. `PrintStatus` defaults to "NeedToPrint" and `PaymentRefNum` to "To Print", as in
Intuit's minimal create from Checking (R-rr); "NotSet" is accepted ([unverified on create]).

Currency (qbo-reference §15.5, docs/currency.md): as every sales document, it is in its customer's
currency (a different `CurrencyRef` is refused; QBO's help shows a foreign customer's refund receipt with
its currency and rate) and `ExchangeRate` defaults to 1 when a foreign one omits it (R-pay's default, as
for Payment); the account it is paid from must be in home currency or the receipt's currency ("The
currency of the account must be either in home currency or the transaction currency", §15.5).
"""

from __future__ import annotations

from decimal import Decimal

from qbo_emulator.entities.account import account_ref
from qbo_emulator.entities.common import Ctx
from qbo_emulator.entities.currency import check_account_takes, currency_of
from qbo_emulator.entities.sales import COMMON_KNOWN, SalesDocType
from qbo_emulator.faults import business_validation, required_param

REFUNDABLE_FROM = {"Bank", "Other Current Asset"}


class RefundReceiptType(SalesDocType):
    name = "RefundReceipt"
    known = ["CheckPayment", "CreditCardPayment", *COMMON_KNOWN]
    order = ["domain", "sparse", "Id", "SyncToken", "MetaData", "CustomField", "DocNumber", "TxnDate", "CurrencyRef",
             "PrivateNote", "Line", "TxnTaxDetail", "CustomerRef", "CustomerMemo", "BillAddr", "TotalAmt",
             "ApplyTaxAfterDiscount", "PrintStatus", "Balance", "PaymentRefNum", "PaymentMethodRef",
             "DepositToAccountRef"]

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        if not body.get("DepositToAccountRef"):
            raise required_param("DepositToAccountRef")
        for raw in body.get("Line") or []:
            if raw.get("DetailType") == "SalesItemLineDetail" and raw.get("Amount") is not None \
                    and Decimal(str(raw["Amount"])) < 0:
                raise business_validation("A refund receipt line amount can't be negative")
        # Nothing is ever applied to a refund receipt: its stored Balance 0 is not an "applied" amount.
        return super().build(ctx, body, {**old, "Balance": old["TotalAmt"]} if old else None)

    def finish(self, ctx: Ctx, doc: dict, old: dict | None, open_amount: Decimal) -> None:
        account, account_reference = account_ref(ctx, doc["DepositToAccountRef"], "DepositToAccountRef")
        if account["AccountType"] not in REFUNDABLE_FROM:
            raise business_validation("Select a bank or other current asset account to refund from")
        check_account_takes(ctx, account, currency_of(ctx, doc), "DepositToAccountRef")
        doc["DepositToAccountRef"] = account_reference
        doc.pop("LinkedTxn", None)
        doc.pop("CustomField", None)
        doc.pop("EmailStatus", None)
        doc.setdefault("PaymentRefNum", "To Print" if doc["PrintStatus"] == "NeedToPrint" else None)
        if doc["PaymentRefNum"] is None:
            doc.pop("PaymentRefNum")
        doc["Balance"] = 0  # R-rr samples: a refund receipt is settled when written


REFUND_RECEIPT = RefundReceiptType()
