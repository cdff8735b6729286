"""Hostile requests to every endpoint of PRODUCT.md §6 (the webhook is in test_webhook_hostile.py).

Every request answers a clean 4xx with `{"error": {"code", "message"}}`, or, when it is valid data (a unicode
name, an injection string as a name or DocNumber), is accepted and stored verbatim. Never a 5xx. The tables
are snapshotted around each request: a rejected request changes nothing, an accepted one changes only the
rows it was meant to (checked per endpoint below). The app, database, emulator and Temporal are the ones
`tests/api` uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import assert_error, qbo_invoice, snapshot
from tests.campaigns.tally import record

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

INJECTION = ["' OR 1=1 --", "'; DROP TABLE invoices; --", "\\'; DROP TABLE customers; --", "x' AND Id > '0",
             "1; SELECT pg_sleep(0)", "Robert'); DELETE FROM partners;--", "%' OR name LIKE '%", "$1", "?",
             "select * from Invoice where DocNumber = 'x' or '1'='1'", "${jndi:ldap://x}", "{{7*7}}"]
UNICODE = ["مرحبا بالعالم", "\u202eevil\u202c", "😀🏳️‍🌈👨‍👩‍👧", "Zoë Ünïcødé", "名前", "e\u0301", "\u200b",
           "\ufeffBOM", "\U0001f4a9" * 40]
NOT_STORABLE = ["nul\x00byte", "\x00", "lone \ud800 surrogate", "\udfff"]  # PostgreSQL text can't hold these
TRAVERSAL = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "..\\..\\windows", "%00", "p_x/../p_y", ".", "..",
             "~root", "\\x00", "p_%27", "*", "%", "_"]
AMOUNTS_BAD = ["-1.00", "0", "0.00", "1.005", "12.345", "1e3", "1E+2", "NaN", "Infinity", "-Infinity", "inf",
               "nan", "snan", "1e999999", "9" * 400, "", " ", "1,00", "$1.00", "0x10", "١٠", "1_000", "--1",
               "1.2.3", -1, 0, 1.005, 12.345, 1e308, True, None, [], {}, "१२"]
AMOUNT_HUGE_VALID = ["99999999999999999999.99", "1" + "0" * 40]


def body_of(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def judge(campaign: str, resp: httpx.Response) -> bool:
    """Never 5xx; a 4xx carries the error shape. Records the outcome; True when accepted."""
    assert resp.status_code < 500, (resp.status_code, resp.text[:500])
    if resp.status_code >= 400:
        assert_error(resp, resp.status_code)
        record(campaign, f"rejected {resp.status_code}")
        return False
    record(campaign, "accepted")
    return True


def diff(before: dict[str, list], after: dict[str, list]) -> dict[str, tuple[list, list]]:
    """Per table: (rows gone or changed, rows new or changed)."""
    out = {}
    for table in before:
        old = [r for r in before[table] if r not in after[table]]
        new = [r for r in after[table] if r not in before[table]]
        if old or new:
            out[table] = (old, new)
    return out


@dataclass
class World:
    pid: str
    other_pid: str  # another partner: nothing of it may change
    customer_id: str
    platform_invoice: str
    qbo_invoice: str
    payment_id: str


@pytest.fixture
async def world(app_client, new_partner, db_pool) -> World:
    pid, other = await new_partner("Hostile Target"), await new_partner("Bystander")
    cid = (await app_client.post(f"/partners/{pid}/customers", json={"name": "Plain"})).json()["id"]
    pinv = (await app_client.post(f"/partners/{pid}/invoices", json={
        "customer_id": cid, "amount": "500.00", "due_date": "2026-12-01"})).json()["id"]
    qinv = await qbo_invoice(db_pool, pid, "1000000.00")
    pay = (await app_client.post(f"/partners/{pid}/invoices/{pinv}/payments", json={"amount": "1.00"})).json()["id"]
    await qbo_invoice(db_pool, other, "50.00")
    return World(pid, other, cid, pinv, qinv, pay)


async def send(http: httpx.AsyncClient, method: str, path: str, payload: Any = None, *, raw: bytes | None = None,
               content_type: str = "application/json", params: dict | None = None) -> httpx.Response:
    if raw is None and payload is not None:
        raw = json.dumps(payload, ensure_ascii=True).encode()  # lone surrogates travel as \\udxxx escapes
    headers = {"content-type": content_type} if raw is not None else {}
    return await http.request(method, path, content=raw, headers=headers, params=params)


# --- what an accepted write may change ---------------------------------------------------------------------


def only_new_rows(changes: dict, table: str, count: int = 1) -> list[dict]:
    assert set(changes) == {table}, changes
    gone, new = changes[table]
    assert not gone and len(new) == count, changes
    return new


async def expect_accepted_write(db_pool, world: World, route: str, payload: dict, resp: httpx.Response,
                                before: dict) -> None:
    after = await snapshot(db_pool, world.pid)
    changes = diff(before, after)
    rid = resp.json()["id"]
    if route == "customers":
        [row] = only_new_rows(changes, "customers")
        assert row["id"] == rid and row["partner_id"] == world.pid
        email = payload.get("email")
        assert row["name"] == payload["name"].strip()
        assert row["email"] == (email.strip() if isinstance(email, str) else email)
    elif route == "invoices":
        [row] = only_new_rows(changes, "invoices")
        assert row["id"] == rid and row["partner_id"] == world.pid and row["source"] == "platform"
        assert row["amount"] == Decimal(str(payload["amount"])) and row["balance"] == row["amount"]
        if payload.get("doc_number") is not None:
            assert row["doc_number"] == payload["doc_number"].strip()
    elif route == "partners":
        [row] = only_new_rows(changes, "partners")
        assert row["id"] == rid and row["name"] == payload["name"].strip()
    elif route == "payments":
        assert set(changes) <= {"payments", "invoices"}, changes
        [new] = changes["payments"][1]
        assert new["id"] == rid and new["amount"] == Decimal(str(payload["amount"]))
        assert not changes["payments"][0]
        gone, changed = changes.get("invoices", ([], []))
        assert len(gone) == len(changed) <= 1
        for old, cur in zip(gone, changed, strict=True):
            assert cur["id"] == old["id"] and cur["balance"] == old["balance"] - new["amount"]
        if payload.get("reference") is not None:
            assert new["reference"] == payload["reference"].strip()
    elif route == "payouts":
        assert set(changes) <= {"payouts", "payout_payments", "payments"}, changes
        [po] = only_new_rows({"payouts": changes["payouts"]}, "payouts")
        links = changes["payout_payments"][1]
        assert not changes["payout_payments"][0] and {r["payment_id"] for r in links} == set(payload["payment_ids"])
        paid = await db_pool.fetch("SELECT amount FROM payments WHERE id = ANY($1::text[])", payload["payment_ids"])
        gross = sum(r["amount"] for r in paid)
        assert po["id"] == rid and po["fee_amount"] == Decimal(str(payload["fee_amount"]))
        assert (po["gross_amount"], po["net_amount"]) == (gross, gross - po["fee_amount"])
    else:
        raise AssertionError(f"no acceptance rule for {route}")
    record(f"api {route} accepted writes", "rows checked")


# --- explicit table of nasty cases ---------------------------------------------------------------------------


def body_cases(world: World) -> list[tuple[str, str, dict | list | str | None]]:
    """(route, label, payload) for every JSON-taking endpoint."""
    cases: list[tuple[str, str, Any]] = []
    for text in INJECTION + UNICODE + NOT_STORABLE + ["", " ", "   \t", "x" * 201, "x" * 5000]:
        cases.append(("partners", "name", {"name": text}))
        cases.append(("customers", "name", {"name": text}))
        cases.append(("customers", "email", {"name": "E", "email": text}))
        cases.append(("invoices", "doc_number", {"customer_id": world.customer_id, "amount": "1.00",
                                                 "due_date": "2026-12-01", "doc_number": text[:30]}))
        cases.append(("invoices", "customer_id", {"customer_id": text, "amount": "1.00", "due_date": "2026-12-01"}))
        cases.append(("payments", "reference", {"amount": "0.01", "reference": text}))
        cases.append(("payouts", "payment_ids", {"payment_ids": [text], "fee_amount": "0.00"}))
        cases.append(("preferences", "account", {"deposit_account_id": text}))
    for amount in AMOUNTS_BAD + AMOUNT_HUGE_VALID:
        cases.append(("invoices", "amount", {"customer_id": world.customer_id, "amount": amount,
                                             "due_date": "2026-12-01"}))
        cases.append(("payments", "amount", {"amount": amount}))
        cases.append(("payouts", "fee_amount", {"payment_ids": [world.payment_id], "fee_amount": amount}))
    for route in ["partners", "customers", "invoices", "payments", "payouts", "preferences"]:
        for label, payload in [
            ("array", []), ("array of objects", [{"name": "x"}]), ("string", "name"), ("number", 1), ("null", None),
            ("empty", {}), ("unknown field", {"name": "x", "admin": True}), ("nested", {"name": {"$ne": None}}),
            ("name list", {"name": ["a", "b"]}), ("deep", {"name": _deep(300)}),
        ]:
            cases.append((route, label, payload))
    for date in ["2026-02-30", "0000-00-00", "9999-12-31T25:00", "", "yesterday", 20261201, "2026-12-01'; --"]:
        cases.append(("invoices", "due_date", {"customer_id": world.customer_id, "amount": "1.00", "due_date": date}))
    for currency in ["usd", "US", "USDX", "", "'; --", "€", None, 1]:
        cases.append(("invoices", "currency", {"customer_id": world.customer_id, "amount": "1.00",
                                               "due_date": "2026-12-01", "currency": currency}))
    for ids in [[], [world.payment_id, world.payment_id], "pay_x", [1], [None], [[world.payment_id]],
                [f"pay_{i}" for i in range(5000)], {"0": world.payment_id}]:
        cases.append(("payouts", "payment_ids", {"payment_ids": ids, "fee_amount": "0.00"}))
    return cases


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": [value]}
    return value


def route_path(world: World, route: str) -> tuple[str, str]:
    return {
        "partners": ("POST", "/partners"),
        "customers": ("POST", f"/partners/{world.pid}/customers"),
        "invoices": ("POST", f"/partners/{world.pid}/invoices"),
        "payments": ("POST", f"/partners/{world.pid}/invoices/{world.qbo_invoice}/payments"),
        "payouts": ("POST", f"/partners/{world.pid}/payouts"),
        "preferences": ("PUT", f"/partners/{world.pid}/qbo/preferences"),
    }[route]


async def test_nasty_bodies_table(app_client, world, db_pool) -> None:
    for route, label, payload in body_cases(world):
        method, path = route_path(world, route)
        before = await snapshot(db_pool, world.pid)
        resp = await send(app_client, method, path, payload)
        if judge(f"api {route} bodies (table)", resp):
            assert resp.status_code in (200, 201), (route, label, payload)
            await expect_accepted_write(db_pool, world, route, payload, resp, before)
        else:
            assert await snapshot(db_pool, world.pid) == before, (route, label, payload)


async def test_unicode_and_injection_names_are_stored_verbatim(app_client, world, db_pool) -> None:
    for text in INJECTION + UNICODE:
        resp = await send(app_client, "POST", f"/partners/{world.pid}/customers", {"name": text})
        assert resp.status_code == 201, (text, resp.text)
        listed = (await app_client.get(f"/partners/{world.pid}/customers")).json()["items"]
        assert {c["name"] for c in listed if c["id"] == resp.json()["id"]} == {text.strip()}
        record("api unicode/injection stored verbatim", "accepted")
    assert await db_pool.fetchval("SELECT count(*) FROM partners WHERE id = $1", world.other_pid) == 1


async def test_raw_bodies_oversized_and_malformed(app_client, world, db_pool) -> None:
    five_mb_string = b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}'  # the two 5 MB bodies go to three routes
    five_mb_array = b"[" + b"1," * (5 * 1024 * 1024 // 2) + b"1]"
    deep = b'{"name":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    raws = [
        (five_mb_string, "application/json"), (five_mb_array, "application/json"), (deep, "application/json"),
        (b"\xff\xfe\xfa\x00garbage", "application/json"), (b'{"name": "\xc3\x28"}', "application/json"),
        (b'{"name": "x"', "application/json"), (b"", "application/json"), (b"null", "application/json"),
        (b'{"name": "x"}', "text/plain"), (b"name=x", "application/x-www-form-urlencoded"),
        (b'<xml name="x"/>', "application/xml"), (b'{"name": "x", "name": "y"}', "application/json"),
        (b'{"amount": NaN}', "application/json"), (b'{"amount": Infinity, "fee_amount": -Infinity}',
                                                  "application/json"),
        (b'{"amount": 1e999999}', "application/json"), (b'{"amount": ' + b"9" * 5000 + b"}", "application/json"),
        (b'{"name": "\\u0000"}', "application/json"), (b'{"name": "\\ud800"}', "application/json"),
    ]
    for route in ["partners", "customers", "invoices", "payments", "payouts", "preferences"]:
        method, path = route_path(world, route)
        for raw, content_type in raws if route in ("partners", "invoices", "payouts") else raws[2:]:
            before = await snapshot(db_pool, world.pid)
            resp = await send(app_client, method, path, raw=raw, content_type=content_type)
            accepted = judge(f"api {route} raw bodies", resp)
            if accepted:  # only the duplicate-key one can be valid ({"name": "y"}, as JSON says)
                assert raw == b'{"name": "x", "name": "y"}', (route, raw[:60])
                await expect_accepted_write(db_pool, world, route, {"name": "y"}, resp, before)
            else:
                assert await snapshot(db_pool, world.pid) == before, (route, raw[:60])


# --- hostile ids in paths and hostile query strings ----------------------------------------------------------

HOSTILE_IDS = INJECTION + TRAVERSAL + UNICODE + ["nul\x00", "\ud800", "x" * 10_000, " ", "p_" + "0" * 64]


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


async def test_hostile_path_ids_and_query_strings(app_client, world, db_pool) -> None:
    pid, iid = world.pid, world.qbo_invoice
    templates = [
        ("GET", "/partners/{pid}/qbo"), ("POST", "/partners/{pid}/qbo/connect"),
        ("PUT", "/partners/{pid}/qbo/preferences"), ("POST", "/partners/{pid}/qbo/sync"),
        ("POST", "/partners/{pid}/qbo/disconnect"), ("GET", "/partners/{pid}/qbo/sync-runs"),
        ("GET", "/partners/{pid}/qbo/reconciliation"), ("GET", "/partners/{pid}/customers"),
        ("GET", "/partners/{pid}/invoices"), ("POST", "/partners/{pid}/customers"),
        ("POST", "/partners/{pid}/invoices"), ("POST", "/partners/{pid}/invoices/{iid}/payments"),
        ("POST", "/partners/{pid}/invoices/{iid}/void"), ("GET", "/partners/{pid}/payments"),
        ("POST", "/partners/{pid}/payouts"), ("GET", "/partners/{pid}/payouts"),
    ]
    valid = {"/partners/{pid}/customers": {"name": "n"}, "/partners/{pid}/invoices/{iid}/payments": {"amount": "1.00"},
             "/partners/{pid}/payouts": {"payment_ids": [world.payment_id], "fee_amount": "0.00"},
             "/partners/{pid}/invoices": {"customer_id": world.customer_id, "amount": "1", "due_date": "2026-12-01"},
             "/partners/{pid}/qbo/preferences": {}}
    before = await snapshot(db_pool, pid)
    for method, template in templates:
        for bad in HOSTILE_IDS:
            targets = [(bad, iid)] + ([(pid, bad)] if "{iid}" in template else [])
            for p, i in targets:
                path = template.replace("{pid}", _quote(p)).replace("{iid}", _quote(i))
                resp = await send(app_client, method, path, valid.get(template) if method != "GET" else None)
                assert not judge("api hostile path ids", resp), (method, path[:120], resp.text[:200])
    for path in ["/partners/{pid}/customers", "/partners/{pid}/invoices", "/partners/{pid}/qbo/sync-runs"]:
        for key in ["include_archived", "limit"]:
            for bad in INJECTION + ["-1", "0", "1e9", "NaN", "999999999999999999999", "\x00", "yes please", ""]:
                resp = await app_client.get(f"{path.replace('{pid}', pid)}?{key}={_quote(bad)}")
                judge("api hostile query strings", resp)
    assert await snapshot(db_pool, pid) == before


async def test_oauth_callback_hostile_params(app_client, world, db_pool) -> None:
    before = await snapshot(db_pool, world.pid)
    for bad in HOSTILE_IDS + ["", "a" * 10_000]:
        for params in [{"state": bad, "code": bad, "realmId": bad}, {"state": bad}, {"code": bad, "realmId": bad},
                       {"state": bad, "error": bad}]:
            query = "&".join(f"{k}={_quote(v)}" for k, v in params.items())  # lone surrogates as raw bytes
            resp = await app_client.get(f"/oauth/qbo/callback?{query}")
            assert not judge("api oauth callback", resp), resp.text[:200]
    assert await snapshot(db_pool, world.pid) == before


# --- hypothesis: random JSON at every body-taking endpoint -----------------------------------------------------

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30), st.sampled_from(INJECTION + UNICODE + NOT_STORABLE + TRAVERSAL + AMOUNTS_BAD[:26]),
)
json_values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
FIELDS = {
    "partners": ["name"], "customers": ["name", "email"],
    "invoices": ["customer_id", "amount", "due_date", "doc_number", "currency"],
    "payments": ["amount", "reference", "paid_at"], "payouts": ["payment_ids", "fee_amount", "arrival_date"],
    "preferences": ["payment_account_id", "create_deposits", "deposit_account_id", "fee_account_id", "time_zone"],
}


@st.composite
def shaped_bodies(draw: st.DrawFn) -> tuple[str, Any]:
    """Mostly the right field names with hostile values; sometimes anything at all."""
    route = draw(st.sampled_from(list(FIELDS)))
    if draw(st.integers(0, 4)) == 0:
        return route, draw(json_values)
    keys = draw(st.lists(st.sampled_from(FIELDS[route]), unique=True, min_size=1))
    return route, {k: draw(json_values) for k in keys}


@settings(FUZZ, max_examples=150)
@given(case=shaped_bodies())
async def test_fuzzed_bodies_never_5xx_never_corrupt(app_client, world, db_pool, case) -> None:
    route, payload = case
    method, path = route_path(world, route)
    before = await snapshot(db_pool, world.pid)
    resp = await send(app_client, method, path, payload)
    if judge(f"api {route} bodies (hypothesis)", resp):
        if route == "preferences":
            raise AssertionError("preferences on an unconnected partner must be 409")
        await expect_accepted_write(db_pool, world, route, payload, resp, before)
    else:
        assert await snapshot(db_pool, world.pid) == before


@FUZZ
@given(pid=st.one_of(st.text(min_size=1, max_size=40), st.sampled_from(HOSTILE_IDS)),
       iid=st.one_of(st.text(min_size=1, max_size=40), st.sampled_from(HOSTILE_IDS)))
async def test_fuzzed_ids_are_404_or_4xx(app_client, world, db_pool, pid, iid) -> None:
    before = await snapshot(db_pool, world.pid)
    for path in [f"/partners/{_quote(pid)}/invoices", f"/partners/{world.pid}/invoices/{_quote(iid)}/payments",
                 f"/partners/{world.pid}/invoices/{_quote(iid)}/void"]:
        resp = await send(app_client, "GET" if path.endswith("invoices") else "POST", path,
                          None if path.endswith("void") or path.endswith("invoices") else {"amount": "1.00"})
        assert not judge("api fuzzed path ids", resp) or pid == world.pid
    assert await snapshot(db_pool, world.pid) == before


# --- preferences on a CONNECTED partner: the bodies reach the workflow's validator ---------------------------

ZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "", " America/Chicago "]


@settings(FUZZ, max_examples=80)
@given(data=st.data())
async def test_fuzzed_preferences_on_a_connected_partner(app_client, connected, db_pool, data) -> None:
    """The partner has a running workflow and real QBO accounts, so valid-looking bodies get past the 409 and
    the schema to the workflow's validator: each ends 200 (applied: the answer, the stored row and the live
    status all say what was sent) or a 4xx that changed nothing, the stored row nor the workflow's state."""
    from rules.preferences import Preferences

    pid = connected["pid"]
    accounts = connected["status"]["accounts"]
    ids = [a["id"] for a in accounts]
    banks = [a["id"] for a in accounts if a["type"] == "Bank"]
    assert ids and banks, accounts
    plausible = {
        "payment_account_id": st.sampled_from([*ids, None, "", "99999"]),
        "create_deposits": st.booleans(),
        "deposit_account_id": st.sampled_from([*banks, *ids, None]),
        "fee_account_id": st.sampled_from([*ids, None, "99999"]),
        "time_zone": st.sampled_from(ZONES),
    }
    if data.draw(st.integers(0, 5), label="anything at all") == 0:
        payload = data.draw(json_values, label="payload")
    else:
        keys = data.draw(st.lists(st.sampled_from(FIELDS["preferences"]), unique=True, min_size=1), label="keys")
        payload = {k: data.draw(st.one_of(plausible[k], plausible[k], json_values), label=k) for k in keys}
    path = f"/partners/{pid}/qbo/preferences"

    async def live() -> dict:
        return (await app_client.get(f"/partners/{pid}/qbo")).json()["preferences"]

    before, live_before = await snapshot(db_pool, pid), await live()
    resp = await send(app_client, "PUT", path, payload)
    if not judge("api preferences bodies (connected partner, hypothesis)", resp):
        assert resp.status_code != 409, resp.text  # connected: the body itself was refused
        assert await snapshot(db_pool, pid) == before, payload
        assert await live() == live_before, payload
        return
    assert resp.status_code == 200, resp.text
    applied = resp.json()
    sent = Preferences.model_validate(payload).model_dump()
    for key in payload:
        if sent[key] is not None:  # an absent account id may be filled by the workflow (the fee account)
            assert applied[key] == sent[key], (key, payload, applied)
    assert applied["create_deposits"] == sent["create_deposits"] and applied["time_zone"] == sent["time_zone"]
    if applied["create_deposits"]:
        assert applied["deposit_account_id"] in ids, applied
    changes = diff(before, await snapshot(db_pool, pid))
    assert set(changes) <= {"qbo_connections"}, changes
    for old, new in zip(*changes.get("qbo_connections", ([], [])), strict=True):
        assert old["partner_id"] == new["partner_id"] == pid, changes
        assert {k for k in new if new[k] != old[k]} == {"preferences"}, changes
    stored = await db_pool.fetchval("SELECT preferences FROM qbo_connections WHERE partner_id = $1", pid)
    assert Preferences.model_validate(stored).model_dump() == applied
    assert await live() == applied
    record("api preferences accepted writes (connected partner)", "rows checked")
