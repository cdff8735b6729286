"""Companies for tests, demos and benchmarks (POST /_emulator/companies).

The chart of accounts and CompanyInfo go through the normal entity code. Bulk data (customers,
invoices, payments, credit memos) is generated in memory with the same line/tax/balance rules and
inserted with one executemany per table in one transaction, so 100,000 invoices take seconds.
Deterministic for a given `random_seed` (Ids, names, amounts, dates; only the realm id and the
clock-relative dates differ between runs on different days).
"""

from __future__ import annotations

import gc
import random
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from qbo_emulator import operations
from qbo_emulator.entities import TYPES
from qbo_emulator.entities.account import ACCOUNT
from qbo_emulator.entities.common import CURRENCY_USD, Ctx, ref, save
from qbo_emulator.entities.companyinfo import COMPANY_INFO, company_info_body
from qbo_emulator.entities.currency import PREFERENCES, currency_ref, prefs_body
from qbo_emulator.entities.customer import CUSTOMER, SUFFIX, customer_balance
from qbo_emulator.entities.sales import CUSTOM_FIELD, ITEMS, TAX_RATE, TERMS
from qbo_emulator.seed_names import company_name, person_name
from qbo_emulator.store import Store
from qbo_emulator.wire import CLOCK, PACIFIC, ZERO, dumps, meta_time, money

# Standard chart of accounts (qbo-reference §5.5; PRODUCT §7).
CHART = [
    ("Checking", "Bank", "Checking"),
    ("Savings", "Bank", "Savings"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("Services", "Income", "ServiceFeeIncome"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("Bank Charges", "Expense", "BankCharges"),
    ("Uncategorized Expense", "Expense", "OtherMiscellaneousServiceCost"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    ("Sales Tax Payable", "Other Current Liability", "SalesTaxPayable"),
]


class SeedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customers: int = Field(0, ge=0, le=1_000_000)
    invoices: int = Field(0, ge=0, le=5_000_000)
    payments: int = Field(0, ge=0, le=5_000_000)
    random_seed: int = 0


class CompanySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "Emulated Company"
    realm_id: str | None = None
    # Preferences.CurrencyPrefs (qbo-reference §15.5): a company is single-currency USD unless asked.
    home_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    multicurrency: bool = False
    seed: SeedSpec = Field(default_factory=SeedSpec)


def new_realm_id() -> str:
    return str(9130350000000000 + secrets.randbelow(10**15))


def create_company(store: Store, ctx_factory, spec: CompanySpec) -> dict:  # noqa: ANN001
    """Create the company, its accounts and generated data; returns counts."""
    realm = spec.realm_id or new_realm_id()
    now_ms = CLOCK.now_ms()
    with store.tx():
        store.add_company(realm, spec.name, now_ms)
        ctx: Ctx = ctx_factory(realm)
        info = COMPANY_INFO.build(ctx, company_info_body(spec.name, (date.today() - timedelta(days=730)).isoformat()),
                                  None)
        save(ctx, COMPANY_INFO, info, None, operation=None)
        store.set_sequence(realm, "CompanyInfo", 1)
        save(ctx, PREFERENCES, PREFERENCES.build(ctx, prefs_body(spec.home_currency, spec.multicurrency), None),
             None, operation=None)
        accounts = {}
        for name, account_type, sub in CHART:
            doc = operations.create(ctx, ACCOUNT, {"Name": name, "AccountType": account_type, "AccountSubType": sub})
            accounts[sub] = doc["Id"]
        # Millions of small dicts: the cyclic GC would rescan them over and over (none are cyclic).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            counts = Generator(store, realm, spec.seed, accounts, now_ms, currency_ref(spec.home_currency)).run()
        finally:
            if gc_was_enabled:
                gc.enable()
    return {"realm_id": realm, "name": spec.name, "accounts": accounts, "home_currency": spec.home_currency,
            "multicurrency": spec.multicurrency, **counts}


@lru_cache(maxsize=4096)
def _midnight_ms(d: date) -> int:
    return int(datetime.combine(d, time(0), PACIFIC).timestamp() * 1000)


def _ms(d: date, rng: random.Random, now_ms: int) -> int:
    """A time during business hours (Pacific) on day `d`, never in the future."""
    return min(_midnight_ms(d) + (8 * 3600 + rng.randrange(10 * 3600)) * 1000, now_ms - 1000)


@dataclass
class Generator:
    store: Store
    realm: str
    spec: SeedSpec
    accounts: dict[str, str]
    now_ms: int
    currency: dict = field(default_factory=lambda: dict(CURRENCY_USD))  # the home currency's CurrencyRef
    rng: random.Random = field(init=False)
    customers: list[dict] = field(default_factory=list)
    txns: list[tuple[str, dict, int, int]] = field(default_factory=list)  # (entity, doc, created, updated)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.spec.random_seed)
        self.today = datetime.fromtimestamp(self.now_ms / 1000, PACIFIC).date()
        self.next_txn = 1

    def run(self) -> dict:
        self._customers()
        invoices = self._invoices()
        n_credit = min(self.spec.payments // 10, max(len(self.customers) // 20, 1)) if invoices else 0
        credit_payments = self._credit_memos(invoices, n_credit)
        cash = self._payments(invoices, self.spec.payments - credit_payments)
        self._write()
        return {"customers": len(self.customers), "invoices": len(invoices),
                "payments": cash + credit_payments, "credit_memos": credit_payments}

    # --- customers -----------------------------------------------------------------------------

    def _customers(self) -> None:
        seen: set[str] = set()
        rng = self.rng
        for i in range(self.spec.customers):
            person = rng.random() < 0.4
            given, family = person_name(rng)
            company = None if person else company_name(rng)
            display = f"{given} {family}" if person else company
            base, n = display, 2
            while display.casefold() in seen:
                display, n = f"{base} {n}", n + 1
            seen.add(display.casefold())
            created = _ms(self.today - timedelta(days=400 + rng.randrange(300)), rng, self.now_ms)
            doc: dict = {"Taxable": rng.random() < 0.7, "GivenName": given, "FamilyName": family,
                         "DisplayName": display, "PrimaryPhone": {"FreeFormNumber": f"(555) {rng.randrange(100, 999)}-"
                                                                                    f"{rng.randrange(1000, 9999)}"},
                         "PrimaryEmailAddr": {"Address": f"billing{i + 1}@example.com"},
                         "BillAddr": {"Id": str(i + 100), "Line1": f"{rng.randrange(1, 9999)} Main St.",
                                      "City": "Middlefield", "CountrySubDivisionCode": "CA",
                                      "PostalCode": f"94{rng.randrange(100, 999)}"}}
            if company:
                doc["CompanyName"] = company
            doc["Active"] = rng.random() >= 0.03
            parent = None
            if company is None and self.customers and rng.random() < 0.05:
                parent = self.customers[rng.randrange(len(self.customers))]
                if not parent["Active"] or parent.get("Job"):
                    parent = None
            self.customers.append(self._customer_doc(i + 1, doc, parent, created))

    def _customer_doc(self, id_: int, body: dict, parent: dict | None, created: int) -> dict:
        display = body["DisplayName"] + ("" if body["Active"] else SUFFIX)
        doc = {**body, "DisplayName": display, "Job": parent is not None, "BillWithParent": False,
               "Balance": ZERO, "BalanceWithJobs": ZERO, "CurrencyRef": self.currency,
               "PreferredDeliveryMethod": "Print", "Id": str(id_), "SyncToken": "0",
               "PrintOnCheckName": body.get("CompanyName") or body["DisplayName"],
               "FullyQualifiedName": f"{parent['FullyQualifiedName']}:{display}" if parent else display,
               "_created": created, "_updated": created}
        if parent:
            doc.update(ParentRef=ref(parent["Id"]), Level=1)
        if doc["Taxable"]:
            doc["DefaultTaxCodeRef"] = {"value": "2"}
        return doc

    # --- invoices ------------------------------------------------------------------------------

    def _invoices(self) -> list[dict]:
        active = [c for c in self.customers if c["Active"]]
        if not active or not self.spec.invoices:
            return []
        rng = self.rng
        dates = sorted(self.today - timedelta(days=rng.randrange(365)) for _ in range(self.spec.invoices))
        invoices = []
        for n, txn_date in enumerate(dates):
            customer = active[rng.randrange(len(active))]
            invoices.append(self._sales_doc("Invoice", customer, txn_date, 1001 + n))
        return invoices

    def _sales_doc(self, entity: str, customer: dict, txn_date: date, doc_number: int,
                   amount: Decimal | None = None) -> dict:
        rng = self.rng
        taxed = amount is None and customer["Taxable"] and rng.random() < 0.5
        lines, subtotal, taxable = [], ZERO, ZERO
        specs = [(amount, Decimal(1))] if amount is not None else [
            (Decimal(rng.randrange(2500, 250000)).scaleb(-2), Decimal(rng.choice((1, 1, 2, 3, 5, 8, 10))))
            for _ in range(rng.choice((1, 1, 2, 2, 3, 4)))]
        for k, (price, qty) in enumerate(specs, start=1):
            item = str(rng.randrange(1, len(ITEMS) + 1))
            line_amount = price * qty  # already exact to the cent
            tax_code = "TAX" if taxed and rng.random() < 0.8 else "NON"
            subtotal += line_amount
            taxable += line_amount if tax_code == "TAX" else ZERO
            lines.append({"Id": str(k), "LineNum": k, "Description": ITEMS[item], "Amount": line_amount,
                          "DetailType": "SalesItemLineDetail",
                          "SalesItemLineDetail": {"ItemRef": ref(item, ITEMS[item]), "UnitPrice": price, "Qty": qty,
                                                  "TaxCodeRef": {"value": tax_code}}})
        lines.append({"Amount": money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        tax_detail: dict = {"TotalTax": 0}
        tax = ZERO
        if taxable:
            tax = money(taxable * TAX_RATE / 100)
            tax_detail = {"TxnTaxCodeRef": {"value": "2"}, "TotalTax": tax,
                          "TaxLine": [{"Amount": tax, "DetailType": "TaxLineDetail",
                                       "TaxLineDetail": {"TaxRateRef": {"value": "3"}, "PercentBased": True,
                                                         "TaxPercent": 8, "NetAmountTaxable": money(taxable)}}]}
        total = money(subtotal + tax)
        created = _ms(txn_date, rng, self.now_ms)
        doc: dict = {"Id": str(self.next_txn), "SyncToken": "0", "CustomField": CUSTOM_FIELD,
                     "DocNumber": str(doc_number), "TxnDate": txn_date.isoformat(), "CurrencyRef": self.currency,
                     "Line": lines, "TxnTaxDetail": tax_detail,
                     "CustomerRef": ref(customer["Id"], customer["DisplayName"]), "BillAddr": customer["BillAddr"],
                     "TotalAmt": total, "ApplyTaxAfterDiscount": False, "PrintStatus": "NeedToPrint",
                     "EmailStatus": "NotSet", "Balance": total, "_created": created, "_updated": created}
        self.next_txn += 1
        if entity == "Invoice":
            term_id = rng.choice(("2", "3", "3", "4"))
            doc.update(AllowIPNPayment=False, AllowOnlinePayment=False, AllowOnlineCreditCardPayment=False,
                       AllowOnlineACHPayment=False, LinkedTxn=[], SalesTermRef=ref(term_id, TERMS[term_id][0]),
                       DueDate=(txn_date + timedelta(days=TERMS[term_id][1])).isoformat())
        else:
            doc["RemainingCredit"] = total
        self.txns.append((entity, doc, created, created))
        return doc

    # --- payments and credits ------------------------------------------------------------------

    def _payment(self, customer_ref: dict, total: Decimal, lines: list[dict], when: int, txn_date: date) -> dict:
        doc = {"CustomerRef": customer_ref, "DepositToAccountRef": ref(self.accounts["UndepositedFunds"]),
               "TotalAmt": money(total), "UnappliedAmt": ZERO, "ProcessPayment": False, "Id": str(self.next_txn),
               "SyncToken": "0", "TxnDate": txn_date.isoformat(), "CurrencyRef": self.currency, "Line": lines,
               "_created": when, "_updated": when}
        if total:
            doc["PaymentRefNum"] = f"SEED-{self.next_txn}"
        self.next_txn += 1
        self.txns.append(("Payment", doc, when, when))
        return doc

    def _apply(self, target: dict, amount: Decimal, payment_id: str, when: int) -> None:
        open_field = "RemainingCredit" if "RemainingCredit" in target else "Balance"
        target[open_field] = money(target[open_field] - amount)
        if open_field == "RemainingCredit":
            target["Balance"] = target[open_field]
        else:
            target["LinkedTxn"].insert(0, {"TxnId": payment_id, "TxnType": "Payment"})
            target["SyncToken"] = str(int(target["SyncToken"]) + 1)
        target["_updated"] = max(target["_updated"], when)

    def _paid_when(self, invoice: dict) -> tuple[int, date]:
        txn_date = min(date.fromisoformat(invoice["TxnDate"]) + timedelta(days=self.rng.randrange(45)), self.today)
        when = max(_ms(txn_date, self.rng, self.now_ms), invoice["_updated"] + 1000)
        return min(when, self.now_ms - 1), txn_date

    def _credit_memos(self, invoices: list[dict], count: int) -> int:
        """Credit memos applied to an open invoice through a zero-total Payment (§5.3, unverified signs)."""
        done = 0
        by_id = {c["Id"]: c for c in self.customers}
        for _ in range(count):
            invoice = invoices[self.rng.randrange(len(invoices))]
            if invoice["Balance"] < 20:
                continue
            credit = money(invoice["Balance"] * Decimal(self.rng.randrange(10, 50)) / 100)
            customer = by_id[invoice["CustomerRef"]["value"]]
            when, txn_date = self._paid_when(invoice)
            memo = self._sales_doc("CreditMemo", customer, txn_date, 900000 + done, amount=credit)
            payment = self._payment(invoice["CustomerRef"], ZERO, [
                {"Amount": credit, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]},
                {"Amount": credit, "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}]}], when, txn_date)
            self._apply(invoice, credit, payment["Id"], when)
            self._apply(memo, credit, payment["Id"], when)
            done += 1
        return done

    def _payments(self, invoices: list[dict], count: int) -> int:
        """About a third of payments are partial; the rest pay the open balance in full."""
        open_invoices = [inv for inv in invoices if inv["Balance"] > 0]
        made = 0
        while made < count and open_invoices:
            k = self.rng.randrange(len(open_invoices))
            invoice = open_invoices[k]
            amount = invoice["Balance"]
            if self.rng.random() < 0.33 and amount > 2:
                amount = money(amount * Decimal(self.rng.randrange(20, 80)) / 100)
            when, txn_date = self._paid_when(invoice)
            payment = self._payment(invoice["CustomerRef"], amount, [
                {"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}], when, txn_date)
            self._apply(invoice, amount, payment["Id"], when)
            if invoice["Balance"] <= 0:
                open_invoices[k] = open_invoices[-1]
                open_invoices.pop()
            made += 1
        return made

    # --- bulk write ----------------------------------------------------------------------------

    def _write(self) -> None:
        by_customer: dict[str, list[tuple[str, dict]]] = {}
        for entity, doc, _, _ in self.txns:
            by_customer.setdefault(doc["CustomerRef"]["value"], []).append((entity, doc))
        for customer in self.customers:
            docs = by_customer.get(customer["Id"], [])
            customer["Balance"] = customer["BalanceWithJobs"] = customer_balance(docs)
            if docs:
                customer["_updated"] = max([customer["_updated"], *(d["_updated"] for _, d in docs)])
        rows = [self._row(CUSTOMER, c, c["_created"], c["_updated"]) for c in self.customers]
        rows.extend(self._row(TYPES[e], d, d["_created"], d["_updated"]) for e, d, _, _ in self.txns)
        self.store.insert_many(rows)
        if self.customers:
            self.store.set_sequence(self.realm, "Customer", len(self.customers))
        self.store.set_sequence(self.realm, "txn", self.next_txn - 1)
        invoices = sum(1 for e, *_ in self.txns if e == "Invoice")
        if invoices:
            self.store.set_sequence(self.realm, "docnum", 1000 + invoices)

    def _row(self, etype, doc: dict, created: int, updated: int) -> tuple:  # noqa: ANN001
        body = {k: v for k, v in doc.items() if not k.startswith("_")}
        body.update(domain="QBO", sparse=False,
                    MetaData={"CreateTime": meta_time(created), "LastUpdatedTime": meta_time(updated)})
        body = etype.ordered(body)
        active, doc_number, customer_id, name_key = etype.columns(body)
        return (self.realm, etype.name, int(body["Id"]), dumps(body), int(active), created, updated, doc_number,
                customer_id, name_key)
