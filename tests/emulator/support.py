"""Test helpers: an Accounting API client for one realm, and the recursive shape comparison."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from tests.qbo_fixtures import QBO_FIXTURES as FIXTURES


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


class Api:
    """Calls /v3/company/{realm}/... with the company's bearer token; JSON parsed with Decimal."""

    def __init__(self, base: str, realm: str, token: dict, info: dict) -> None:
        self.base = base
        self.realm = realm
        self.token = token
        self.info = info
        self.http = httpx.Client(base_url=f"{base}/v3/company/{realm}", timeout=30,
                                 headers={"Accept": "application/json"})

    def close(self) -> None:
        self.http.close()

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token['access_token']}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params={"minorversion": 75, **params}, headers=self.auth)

    def post(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return self.http.post(path, content=json.dumps(body, default=str), params={"minorversion": 75, **params},
                              headers={**self.auth, "Content-Type": "application/json"})

    def query(self, statement: str) -> dict:
        r = self.get("/query", query=statement)
        assert r.status_code == 200, r.text
        return parse(r)["QueryResponse"]

    def ok(self, r: httpx.Response, entity: str) -> dict:
        assert r.status_code == 200, r.text
        return parse(r)[entity]

    def create(self, entity: str, body: dict, **params: Any) -> dict:
        return self.ok(self.post(f"/{entity.lower()}", body, **params), entity)

    def read(self, entity: str, id_: str) -> dict:
        return self.ok(self.get(f"/{entity.lower()}/{id_}"), entity)

    def update(self, entity: str, body: dict, **params: Any) -> dict:
        return self.ok(self.post(f"/{entity.lower()}", body, **params), entity)

    def fault(self, r: httpx.Response, status: int = 400) -> dict:
        assert r.status_code == status, r.text
        return parse(r)["Fault"]["Error"][0]

    def account_id(self, sub_type: str) -> str:
        return self.info["accounts"][sub_type]

    # --- shortcuts for bookkeeping tests ---------------------------------------------------------

    def customer(self, name: str = "Amy's Bird Sanctuary", **fields: Any) -> dict:
        return self.create("Customer", {"DisplayName": name, **fields})

    def invoice(self, customer_id: str, *amounts: str, **fields: Any) -> dict:
        lines = [{"Amount": Decimal(a), "DetailType": "SalesItemLineDetail",
                  "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}}} for a in amounts or ("100.00",)]
        return self.create("Invoice", {"Line": lines, "CustomerRef": {"value": customer_id}, **fields})

    def pay(self, customer_id: str, total: str, *applied: tuple[str, str, str], **fields: Any) -> dict:
        lines = [{"Amount": Decimal(amount), "LinkedTxn": [{"TxnId": txn_id, "TxnType": txn_type}]}
                 for txn_type, txn_id, amount in applied]
        return self.create("Payment", {"CustomerRef": {"value": customer_id}, "TotalAmt": Decimal(total),
                                       "Line": lines, **fields})


def parse(r: httpx.Response) -> Any:
    return json.loads(r.text, parse_float=Decimal)


# --- shape comparison ----------------------------------------------------------------------------

def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_diff(expected: Any, actual: Any, *, ignore: frozenset[str] = frozenset(),
               allow_extra: frozenset[str] = frozenset(), path: str = "$") -> list[str]:
    """Differences in keys, nesting and value types between a real payload and ours.

    `ignore`: keys that may be missing from ours (documented per fixture); `allow_extra`: keys we may add.
    Arrays are compared element by element (the equivalent request reproduces the fixture's lines), extra
    elements against the fixture's last one; an empty fixture array accepts anything.
    """
    ek, ak = _kind(expected), _kind(actual)
    if ek != ak:
        return [f"{path}: expected {ek}, got {ak}"]
    diffs: list[str] = []
    if ek == "object":
        for key in expected:
            if key in ignore:
                continue
            if key not in actual:
                diffs.append(f"{path}.{key}: missing")
            else:
                diffs += shape_diff(expected[key], actual[key], ignore=ignore, allow_extra=allow_extra,
                                    path=f"{path}.{key}")
        diffs += [f"{path}.{key}: unexpected" for key in actual if key not in expected and key not in allow_extra]
    elif ek == "array" and expected:
        if not actual:
            diffs.append(f"{path}: expected a non-empty array")
        for i, item in enumerate(actual):
            diffs += shape_diff(expected[min(i, len(expected) - 1)], item, ignore=ignore,
                                allow_extra=allow_extra, path=f"{path}[{i}]")
    return diffs
