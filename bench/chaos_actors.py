"""The chaos soak's actors: a client for the service's API, a bookkeeper on one QBO company (a second OAuth
client changing things through the Accounting API), partner onboarding through the real OAuth flow, and
the QBO-side traffic loops (the platform's are in bench/chaos_platform.py). Every loop is bounded in time and
count; all traffic goes to 127.0.0.1. Errors that chaos provokes (PostgreSQL restarting, QBO faults) are
counted, never fatal: what counts is the state after the soak settles (`bench/chaos_check.py`)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from bench.common import oauth_attempt, oauth_connect
from rules.deposits import deposit_memo
from rules.posting import payment_ref_num

CENT = Decimal("0.01")
MAX_ACTIONS_PER_LOOP = 10_000  # a bound on every loop besides its deadline


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


AGAINST_PAYMENT = ("netted", "reduced", "voided")  # docs/refunds.md: bookings that take the refund out of it


def qbo_amount(p: dict) -> Decimal:
    """What a platform payment's QBO Payment must hold: its amount less the refunds booked against it."""
    return money(p["amount"]) - sum((money(r["amount"]) for r in p.get("refunds", [])
                                     if r["status"] == "posted" and r["booking"] in AGAINST_PAYMENT), money(0))


@dataclass
class Tally:
    """What the actors did and which errors they met (reported, not judged)."""

    actions: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    def did(self, what: str) -> None:
        self.actions[what] += 1

    def failed(self, what: str) -> None:
        self.errors[what] += 1


class ServiceApi:
    """The dashboard API of the service under test."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def ok(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.http.request(method, path, **kw)
        if resp.status_code >= 400:
            raise httpx.HTTPStatusError(f"{method} {path}: {resp.status_code} {resp.text[:300]}",
                                        request=resp.request, response=resp)
        return resp.json() if resp.content else None

    async def all(self, path: str, *, deadline: float | None = None, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list (PRODUCT.md §6), 1,000 per request; with `deadline`, retried as `retry`."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            body = (await self.retry("GET", path, deadline=deadline, params=query) if deadline is not None
                    else await self.ok("GET", path, params=query))
            items += body["items"]
            cursor = body["next_cursor"]
            if not cursor:
                return items

    async def retry(self, method: str, path: str, *, deadline: float, **kw: Any) -> Any:
        """For setup and settling: retried on transport errors and 5xx until the deadline."""
        while True:
            try:
                return await self.ok(method, path, **kw)
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else 0
                if 400 <= status < 500 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


class Bookkeeper:
    """Another OAuth client on the partner's QBO company: the changes a bookkeeper makes by hand. With
    `service` and `pid` it can also find the Payments and Deposits this service posted for the partner."""

    def __init__(self, emulator_url: str, realm: str, service: ServiceApi | None = None,
                 pid: str | None = None) -> None:
        self.realm, self.service, self.pid = realm, service, pid
        self.admin = httpx.AsyncClient(base_url=emulator_url, timeout=30)
        self.http = httpx.AsyncClient(base_url=f"{emulator_url}/v3/company/{realm}", timeout=30,
                                      headers={"Accept": "application/json"})
        self.token = ""

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.admin.aclose()

    async def login(self) -> None:
        resp = await self.admin.post(f"/_emulator/companies/{self.realm}/tokens")
        resp.raise_for_status()
        self.token = resp.json()["access_token"]

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        resp = await self.http.request(method, path, headers=self._headers(), **kw)
        if resp.status_code == 401:  # an hour-long token may lapse in a long soak: log in again
            await self.login()
            resp = await self.http.request(method, path, headers=self._headers(), **kw)
        return resp

    async def query(self, statement: str) -> dict:
        resp = await self._send("GET", "/query", params={"query": statement, "minorversion": "75"})
        resp.raise_for_status()
        return resp.json()["QueryResponse"]

    async def query_all(self, entity: str, where: str = "") -> list[dict]:
        """Every row, 1000 a page (for the final check, with faults off)."""
        out: list[dict] = []
        start = 1
        while True:
            page = (await self.query(f"SELECT * FROM {entity}{where} STARTPOSITION {start} MAXRESULTS 1000"))
            rows = page.get(entity, [])
            out += rows
            if len(rows) < 1000:
                return out
            start += 1000

    async def post(self, entity: str, body: dict, **params: str) -> dict:
        resp = await self._send("POST", f"/{entity.lower()}", json=body, params={"minorversion": "75", **params})
        resp.raise_for_status()
        return resp.json()[entity]

    async def read(self, entity: str, id_: str) -> dict:
        resp = await self._send("GET", f"/{entity.lower()}/{id_}", params={"minorversion": "75"})
        resp.raise_for_status()
        return resp.json()[entity]

    # --- the changes ---------------------------------------------------------------------------------

    async def open_invoices(self) -> list[dict]:
        return (await self.query("SELECT * FROM Invoice WHERE Balance > '0' MAXRESULTS 200")).get("Invoice", [])

    async def edit_invoice(self, rng: random.Random, inv: dict) -> str:
        """A due date moved, or a line added (the total goes up)."""
        current = await self.read("Invoice", inv["Id"])
        if rng.random() < 0.5:
            due = date.today() + timedelta(days=rng.randint(5, 90))
            await self.post("Invoice", {"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True,
                                        "DueDate": due.isoformat()})
            return "qbo_invoice_due_date"
        item = next((ln["SalesItemLineDetail"]["ItemRef"] for ln in current.get("Line", [])
                     if ln.get("DetailType") == "SalesItemLineDetail"), {"value": "1"})
        lines = [ln for ln in current.get("Line", []) if ln.get("DetailType") != "SubTotalLineDetail"]
        lines.append({"Amount": str(money(rng.randint(5, 60))), "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": item}})
        await self.post("Invoice", {"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True,
                                    "Line": lines})
        return "qbo_invoice_line_added"

    async def partial_payment(self, rng: random.Random, inv: dict) -> str:
        balance = money(inv["Balance"])
        amount = min(balance, money(rng.randint(1, 40)))
        await self.post("Payment", {"CustomerRef": inv["CustomerRef"], "TotalAmt": str(amount),
                                    "Line": [{"Amount": str(amount),
                                              "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
        return "qbo_partial_payment"

    async def new_invoice(self, rng: random.Random, inv: dict) -> str:
        await self.post("Invoice", {"CustomerRef": inv["CustomerRef"], "Line": [
            {"Amount": str(money(rng.randint(50, 400))), "DetailType": "SalesItemLineDetail",
             "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
        return "qbo_new_invoice"

    async def void(self, rng: random.Random, inv: dict) -> str:
        current = await self.read("Invoice", inv["Id"])
        await self.post("Invoice", {"Id": current["Id"], "SyncToken": current["SyncToken"]}, operation="void")
        return "qbo_void"

    # --- our own postings, changed by a person (README "Postings changed in QuickBooks") --------------------

    async def our_payment(self, rng: random.Random) -> dict | None:
        """A QBO Payment this service posted that a bookkeeper can still delete or void: the platform records
        it `posted` under that Id (a posting the service doesn't know it made yet is the exactly-once
        layers' case, not this one), it still carries our PaymentRefNum and amount (less the refunds booked
        against it), and no Deposit locks it (QBO refuses to change a deposited Payment, 6540)."""
        if self.service is None or self.pid is None:
            return None
        posted = [p for p in await self.service.all(f"/partners/{self.pid}/payments")
                  if p["status"] == "posted" and p["qbo_payment_id"]]
        for p in rng.sample(posted, k=min(len(posted), 5)):
            qbo = await self.read("Payment", p["qbo_payment_id"])
            deposited = any(lt.get("TxnType") == "Deposit" for lt in qbo.get("LinkedTxn", []))
            if (qbo.get("PaymentRefNum") == payment_ref_num(p["id"]) and not deposited
                    and money(qbo["TotalAmt"]) == qbo_amount(p) > 0):
                return qbo
        return None

    async def delete_our_payment(self, rng: random.Random) -> str | None:
        """A bookkeeper deletes a Payment we posted (a duplicate in their eyes, a refund booked by hand)."""
        return await self._change_our_payment(rng, "delete", "qbo_our_payment_deleted")

    async def void_our_payment(self, rng: random.Random) -> str | None:
        """A bookkeeper voids a Payment we posted: it stays in QBO with TotalAmt 0 and our PaymentRefNum."""
        return await self._change_our_payment(rng, "void", "qbo_our_payment_voided")

    async def _change_our_payment(self, rng: random.Random, operation: str, action: str) -> str | None:
        qbo = await self.our_payment(rng)
        if qbo is None:
            return None
        await self.post("Payment", {"Id": qbo["Id"], "SyncToken": qbo["SyncToken"]}, operation=operation)
        return action

    async def delete_our_deposit(self, rng: random.Random) -> str | None:
        """A bookkeeper deletes the Deposit of a payout the platform records `deposited` under that Id; its
        Payments go back to Undeposited Funds."""
        if self.service is None or self.pid is None:
            return None
        deposited = [po for po in await self.service.all(f"/partners/{self.pid}/payouts")
                     if po["status"] == "deposited" and po["qbo_deposit_id"]]
        if not deposited:
            return None
        po = rng.choice(deposited)
        qbo = await self.read("Deposit", po["qbo_deposit_id"])
        if qbo.get("PrivateNote") != deposit_memo(po["id"]):
            return None
        await self.post("Deposit", {"Id": qbo["Id"], "SyncToken": qbo["SyncToken"]}, operation="delete")
        return "qbo_our_deposit_deleted"


# --- onboarding ----------------------------------------------------------------------------------------


async def seed_company(emulator_url: str, name: str, seed: int, invoices: int) -> str:
    async with httpx.AsyncClient(base_url=emulator_url, timeout=60) as http:
        resp = await http.post("/_emulator/companies", json={
            "name": name, "seed": {"customers": 5, "invoices": invoices, "payments": 2, "random_seed": seed}})
        resp.raise_for_status()
        return str(resp.json()["realm_id"])


async def connect_partner(api: ServiceApi, emulator_url: str, index: int, seed: int,
                          limit_seconds: float = 180) -> dict:
    """Create a partner, connect its seeded company through the real OAuth flow (consent at the emulator,
    the callback on the API), wait until it is active, then turn deposits on into the Checking account."""
    deadline = time.monotonic() + limit_seconds
    realm = await seed_company(emulator_url, f"Chaos Co {index}", seed, invoices=12)
    pid = (await api.ok("POST", "/partners", json={"name": f"Chaos Partner {index}"}))["id"]
    await oauth_connect(api.http, pid, realm)
    while True:
        status = await api.ok("GET", f"/partners/{pid}/qbo")
        if status["state"] == "active" and status["last_synced_at"] and status["source"] == "workflow":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"partner {pid} was not active after {limit_seconds:.0f}s: {status}")
        await asyncio.sleep(0.5)
    checking = next(a for a in status["accounts"] if a["type"] == "Bank" and a["name"] == "Checking")
    prefs = {**status["preferences"], "create_deposits": True, "deposit_account_id": checking["id"]}
    await api.retry("PUT", f"/partners/{pid}/qbo/preferences", json=prefs, deadline=deadline)
    return {"pid": pid, "realm": realm}


# --- traffic -------------------------------------------------------------------------------------------


# How often each bookkeeper change is picked. Changes to our own postings are as rare as invoice voids: each
# one parks a platform payment or payout for a person, and most payments should still flow.
INVOICE_CHANGES = {"edit_invoice": 3, "partial_payment": 3, "new_invoice": 2, "void": 1}
# Deposits weigh more: there are fewer of them, and none before the first payouts are deposited.
POSTING_CHANGES = {"delete_our_payment": 0.5, "void_our_payment": 0.5, "delete_our_deposit": 1.0}


async def bookkeeper_traffic(books: Bookkeeper, rng: random.Random, until: float, tally: Tally,
                             owed: str | None = None) -> None:
    """QBO-side changes: edits, partial payments, new invoices, voids (rarer: they strand platform payments),
    and Payments and Deposits this service posted deleted or voided (as rare).

    `owed`: one change of POSTING_CHANGES this bookkeeper makes for sure, tried at each turn until it is
    done (None while there is nothing of ours to change yet), so that a short soak exercises it whatever the
    timing (the 60 s soak of `make test` once drew no Payment deletion or void at all)."""
    weights = INVOICE_CHANGES | POSTING_CHANGES
    for _ in range(MAX_ACTIONS_PER_LOOP):
        if time.monotonic() >= until:
            return
        await asyncio.sleep(rng.uniform(1.5, 5))
        name = rng.choices(list(weights), weights=list(weights.values()))[0]
        if owed and await _change(books, rng, owed, tally):
            owed = None
            continue
        await _change(books, rng, name, tally)


async def _change(books: Bookkeeper, rng: random.Random, name: str, tally: Tally) -> bool:
    """Make the named change and count it; False when there was nothing to change or QBO refused."""
    try:
        done = await _one_change(books, rng, name)
    except httpx.HTTPStatusError as exc:  # the faults hit the bookkeeper too; a 400 is a lost race
        tally.failed(f"{_side(exc)} {exc.response.status_code}")
        return False
    except httpx.TransportError as exc:
        tally.failed(f"{_side(exc)} {type(exc).__name__}")
        return False
    if done:
        tally.did(done)
    return bool(done)


def _side(exc: httpx.HTTPError) -> str:
    """Whose error: QBO's (the emulator's faults) or the service API's (looking up our postings while
    PostgreSQL restarts)."""
    try:
        return "qbo" if exc.request.url.path.startswith("/v3/") else "api"
    except RuntimeError:  # no request attached
        return "qbo"


async def _one_change(books: Bookkeeper, rng: random.Random, name: str) -> str | None:
    """Make the named change; returns what was done (None: nothing to change yet)."""
    if name in POSTING_CHANGES:
        return await getattr(books, name)(rng)
    invoices = await books.open_invoices()
    return await getattr(books, name)(rng, rng.choice(invoices)) if invoices else None


async def wrong_company_clicks(api: ServiceApi, realms: dict[str, str], rng: random.Random, until: float,
                               tally: Tally) -> None:
    """Partners clicking Connect again and choosing another partner's company in Intuit's picker: every
    such callback must be refused with `realm_mismatch` (PRODUCT.md §5); one that is not is counted as
    `wrong_company_accepted`, which the soak requires to be zero. A callback refused for another reason
    (the emulator's faults during the code exchange or the CompanyInfo read: `realm_not_confirmed`,
    `code_exchange_failed`) also changed nothing: counted as an error met, with its code."""
    if len(realms) < 2:
        return
    for _ in range(MAX_ACTIONS_PER_LOOP):
        if time.monotonic() >= until:
            return
        await asyncio.sleep(rng.uniform(4, 12))
        pid = rng.choice(sorted(realms))
        other = rng.choice(sorted(r for p, r in realms.items() if p != pid))
        try:
            resp = await oauth_attempt(api.http, pid, other)
        except (httpx.HTTPError, RuntimeError) as exc:  # PostgreSQL restarting, the emulator's faults
            tally.failed(f"wrong company: {type(exc).__name__}")
            continue
        if resp.status_code >= 500:
            tally.failed(f"wrong company: api {resp.status_code}")
        elif resp.status_code == 409 and resp.json()["error"]["code"] == "realm_mismatch":
            tally.did("wrong_company_refused")
        elif resp.status_code >= 400:
            tally.failed(f"wrong company: {resp.status_code} {resp.json()['error']['code']}")
        else:
            tally.did("wrong_company_accepted")
