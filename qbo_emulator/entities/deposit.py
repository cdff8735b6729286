"""Deposit (qbo-reference §5.4, §6): sweeps Undeposited Funds payments into a bank account.

Two kinds of line: linked lines (`LinkedTxn` to a Payment, no DetailType, no Id/LineNum in QBO's
answer) and account lines (`DetailType "DepositLineDetail"` with `AccountRef`, amount may be
negative: the fee line of fx:deposit_with_negative_fee_line.xml). TotalAmt = Σ lines - CashBack.
A linked line carrying DetailType is the classic mistake: 2020 without AccountRef, 6000 with it
(I:routablehq/python-quickbooks#329, #391).
"""

from __future__ import annotations

from qbo_emulator.entities.account import account_ref
from qbo_emulator.entities.common import Ctx, EntityType, load, ref, ref_id, save
from qbo_emulator.entities.currency import check_account_takes, currency_of, home_amount, multicurrency, stamp
from qbo_emulator.entities.payment import PAYMENT
from qbo_emulator.faults import business_validation, object_not_found, required_param
from qbo_emulator.wire import ZERO, money, to_decimal, today_pacific

BANKABLE = {"Bank", "Other Current Asset"}


class DepositType(EntityType):
    name = "Deposit"
    known = ["DepositToAccountRef", "CashBack", "TotalAmt", "TxnDate", "CurrencyRef", "ExchangeRate", "PrivateNote",
             "Line", "DocNumber", "TxnSource", "TxnStatus", "DepartmentRef", "GlobalTaxCalculation",
             "TransactionLocationType", "HomeTotalAmt"]
    order = ["DepositToAccountRef", "CashBack", "TotalAmt", "domain", "sparse", "Id", "SyncToken", "MetaData",
             "DocNumber", "TxnDate", "CurrencyRef", "ExchangeRate", "PrivateNote", "Line", "HomeTotalAmt"]

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        doc = {k: v for k, v in body.items() if k in self.known}
        if not doc.get("DepositToAccountRef"):
            raise required_param("DepositToAccountRef")
        bank, bank_ref = account_ref(ctx, doc["DepositToAccountRef"], "DepositToAccountRef")
        if bank["AccountType"] not in BANKABLE or bank.get("AccountSubType") == "UndepositedFunds":
            raise business_validation("Select a bank account for this deposit")
        doc["DepositToAccountRef"] = bank_ref
        raw_lines = doc.get("Line") or []
        if not raw_lines:
            raise required_param("Line")
        lines, total, n = [], ZERO, 0
        for raw in raw_lines:
            if raw.get("LinkedTxn"):
                line = _linked_line(raw)
            else:
                n += 1
                line = _account_line(ctx, raw, n, currency_of(ctx, bank))
            total += line["Amount"]
            lines.append(line)
        cash_back = doc.get("CashBack")
        if cash_back:
            _, cb_ref = account_ref(ctx, cash_back.get("AccountRef") or {}, "CashBack.AccountRef")
            cash_back = {**cash_back, "AccountRef": cb_ref, "Amount": money(to_decimal(cash_back.get("Amount")))}
            doc["CashBack"] = cash_back
            total -= cash_back["Amount"]
        if total < 0 and not ctx.cfg.allow_negative_deposit:
            raise business_validation("The deposit total can't be negative")
        doc.update(Line=lines, TotalAmt=money(total))
        doc.pop("HomeTotalAmt", None)
        rate = stamp(ctx, doc, currency_of(ctx, bank), doc.get("ExchangeRate"))  # R-dep: the bank's currency
        if multicurrency(ctx):
            doc["HomeTotalAmt"] = home_amount(total, rate)
        doc["TxnDate"] = str(doc.get("TxnDate") or (old or {}).get("TxnDate") or today_pacific().isoformat())
        if old:
            doc["Id"] = old["Id"]
        return doc

    def effects(self, ctx: Ctx, old: dict | None, new: dict | None) -> None:
        """Unlink the payments `old` swept, link the ones `new` sweeps (no SyncToken bump, see save())."""
        deposit_id = (new or old or {}).get("Id")
        before, after = _payment_amounts(old), _payment_amounts(new)
        for pid in sorted(set(before) | set(after), key=int):
            payment = load(ctx, "Payment", int(pid))
            if payment is None:
                if pid in after:
                    raise object_not_found(f"Payment Id={pid}")
                continue
            links = [lt for lt in payment.get("LinkedTxn", [])
                     if not (lt.get("TxnType") == "Deposit" and lt.get("TxnId") == deposit_id)]
            if pid in after:
                _check_sweepable(ctx, payment, after[pid], links)
                _check_same_currency(ctx, payment, new)  # type: ignore[arg-type]
                links.append({"TxnId": deposit_id, "TxnType": "Deposit"})
            updated = {k: v for k, v in payment.items() if k != "LinkedTxn"}
            if links:
                updated = PAYMENT.ordered({**updated, "LinkedTxn": links})
            save(ctx, PAYMENT, updated, payment, operation=None, touch=False)


def _check_sweepable(ctx: Ctx, payment: dict, amount: object, other_links: list) -> None:
    pid = payment["Id"]
    if any(lt.get("TxnType") == "Deposit" for lt in other_links):
        raise business_validation(f"Payment {pid} has already been deposited")
    if payment.get("PrivateNote") == "Voided" and to_decimal(payment.get("TotalAmt")) == 0:
        raise business_validation(f"Payment {pid} is voided")
    row = ctx.store.execute("SELECT 1 FROM entities WHERE realm = ? AND entity = 'Account' AND id = ? AND "
                            "json_extract(doc, '$.AccountSubType') = 'UndepositedFunds'",
                            (ctx.realm, int(payment["DepositToAccountRef"]["value"]))).fetchone()
    if row is None:
        raise business_validation(f"Payment {pid} was not received into Undeposited Funds, so it can't be deposited")
    if to_decimal(amount) != to_decimal(payment["TotalAmt"]):
        raise business_validation(f"The deposit line for payment {pid} must be {money(to_decimal(payment['TotalAmt']))}")


def _check_same_currency(ctx: Ctx, payment: dict, deposit: dict) -> None:
    """A Deposit links only payments in its bank account's currency (docs/currency.md, the strict reading)."""
    paid, banked = currency_of(ctx, payment), currency_of(ctx, deposit)
    if paid != banked:
        raise business_validation(f"A deposit can only include payments in the currency of its account: payment "
                                  f"{payment['Id']} is in {paid}, the deposit account in {banked}")


def _payment_amounts(doc: dict | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for line in (doc or {}).get("Line", []):
        for link in line.get("LinkedTxn", []):
            if link.get("TxnType") == "Payment":
                out[link["TxnId"]] = line["Amount"]
    return out


def _linked_line(raw: dict) -> dict:
    if raw.get("DetailType"):
        detail = raw.get(raw["DetailType"]) or {}
        if not detail.get("AccountRef"):
            raise required_param("Line.DepositLineDetail.AccountRef")
        raise business_validation("Select a bank account for this deposit")
    links = raw["LinkedTxn"]
    if len(links) != 1 or links[0].get("TxnType") not in ("Payment",):
        raise business_validation("A deposit line can link exactly one Payment")
    txn_id = str(ref_id({"value": links[0].get("TxnId")}, "Line.LinkedTxn.TxnId"))
    line: dict = {"Amount": money(to_decimal(raw.get("Amount"))),
                  "LinkedTxn": [{"TxnId": txn_id, "TxnType": "Payment", "TxnLineId": "0"}]}
    if raw.get("DepositLineDetail"):
        line["DepositLineDetail"] = raw["DepositLineDetail"]
    return line


def _account_line(ctx: Ctx, raw: dict, n: int, currency: str) -> dict:
    """An account line of a Deposit in `currency`: its account is in home currency or that currency
    (qbo-reference §15.5, as a Payment's or RefundReceipt's account; a refund clearing line in a EUR Deposit
    goes to a home-currency clearing account)."""
    if raw.get("DetailType") != "DepositLineDetail":
        raise required_param("Line.DetailType")
    detail = dict(raw.get("DepositLineDetail") or {})
    if not detail.get("AccountRef"):
        raise required_param("Line.DepositLineDetail.AccountRef")
    account, detail["AccountRef"] = account_ref(ctx, detail["AccountRef"], "Line.DepositLineDetail.AccountRef")
    check_account_takes(ctx, account, currency, "Line.DepositLineDetail.AccountRef")
    if detail.get("Entity"):
        entity = detail["Entity"]
        value = entity.get("value") if isinstance(entity, dict) else None
        if value:
            customer = load(ctx, "Customer", ref_id(entity, "Line.DepositLineDetail.Entity"))
            if customer is None:
                raise object_not_found(f"Entity={value}")
            detail["Entity"] = {**ref(customer["Id"], customer["DisplayName"]), "type": "CUSTOMER"}
    ordered = {k: detail[k] for k in ("Entity", "AccountRef", "PaymentMethodRef", "CheckNum") if k in detail}
    ordered.update((k, v) for k, v in detail.items() if k not in ordered)
    return {"Id": str(n), "LineNum": n, "Amount": money(to_decimal(raw.get("Amount"))),
            "DetailType": "DepositLineDetail", "DepositLineDetail": ordered}


DEPOSIT = DepositType()
