"""CDC (qbo-reference §4): per-entity envelope, tombstones, the 30-day check and the 1000 cap in
both switchable modes (§14)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D

import httpx

from tests.emulator.support import Api, parse


def cdc(api: Api, entities: str, since: str) -> dict:
    r = api.get("/cdc", entities=entities, changedSince=since)
    assert r.status_code == 200, r.text
    pages = parse(r)["CDCResponse"][0]["QueryResponse"]
    out = {}
    for page in pages:
        for key, value in page.items():
            if isinstance(value, list):
                out[key] = value
    return {"pages": pages, **out}


def test_changes_and_tombstones_per_entity(company: Api) -> None:
    start = company.read("CompanyInfo", company.realm)["MetaData"]["CreateTime"]
    customer = company.customer("CDC Customer")
    kept = company.invoice(customer["Id"], "10.00")
    gone = company.invoice(customer["Id"], "20.00")
    company.post("/invoice", {"Id": gone["Id"], "SyncToken": "0"}, operation="delete")
    payment = company.pay(customer["Id"], "10.00", ("Invoice", kept["Id"], "10.00"))
    result = cdc(company, "Invoice,Customer,Payment,Deposit", start)
    assert len(result["pages"]) == 4 and {} in result["pages"]  # Deposit: nothing changed
    invoices = {i["Id"]: i for i in result["Invoice"]}
    assert invoices[gone["Id"]] == {"domain": "QBO", "status": "Deleted", "Id": gone["Id"],
                                    "MetaData": {"LastUpdatedTime": invoices[gone["Id"]]["MetaData"]["LastUpdatedTime"]}}
    assert invoices[kept["Id"]]["Balance"] == 0 and invoices[kept["Id"]]["SyncToken"] == "1"
    assert [p["Id"] for p in result["Payment"]] == [payment["Id"]]
    assert customer["Id"] in {c["Id"] for c in result["Customer"]}
    # a deactivated customer is an ordinary update, not a tombstone
    company.update("Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    again = cdc(company, "customer", start)
    assert again["Customer"][0]["Active"] is False and "status" not in again["Customer"][0]


def test_payment_void_delete_and_deposit_delete_as_cdc_shows_them(company: Api) -> None:
    """What the sync's check of our own postings relies on (qbo-reference §4, §5.3, §15.1): a voided Payment
    is an ordinary change (TotalAmt 0, PrivateNote "Voided", no lines) and its invoice is open again with a
    new SyncToken; a deleted Payment or Deposit is a tombstone with only its Id."""
    start = company.read("CompanyInfo", company.realm)["MetaData"]["CreateTime"]
    customer = company.customer("Own Postings")
    inv_a, inv_b = company.invoice(customer["Id"], "30.00"), company.invoice(customer["Id"], "40.00")
    voided = company.pay(customer["Id"], "30.00", ("Invoice", inv_a["Id"], "30.00"))
    deleted = company.pay(customer["Id"], "40.00", ("Invoice", inv_b["Id"], "40.00"))
    deposited = company.pay(customer["Id"], "5.00")
    bank = company.query("SELECT * FROM Account WHERE AccountType = 'Bank'")["Account"][0]["Id"]
    deposit = company.create("Deposit", {"DepositToAccountRef": {"value": bank}, "Line": [
        {"Amount": "5.00", "LinkedTxn": [{"TxnId": deposited["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}]})
    company.post("/payment", {"Id": voided["Id"], "SyncToken": "0", "sparse": True}, operation="update",
                 include="void")
    company.post("/payment", {"Id": deleted["Id"], "SyncToken": "0"}, operation="delete")
    company.post("/deposit", {"Id": deposit["Id"], "SyncToken": "0"}, operation="delete")
    result = cdc(company, "Payment,Deposit,Invoice", start)
    payments = {p["Id"]: p for p in result["Payment"]}
    assert payments[voided["Id"]]["TotalAmt"] == 0 and payments[voided["Id"]]["PrivateNote"] == "Voided"
    assert "Line" not in payments[voided["Id"]] or payments[voided["Id"]]["Line"] == []
    assert set(payments[deleted["Id"]]) == {"domain", "status", "Id", "MetaData"}
    assert payments[deleted["Id"]]["status"] == "Deleted"
    assert [(d["Id"], d.get("status")) for d in result["Deposit"]] == [(deposit["Id"], "Deleted")]
    invoices = {i["Id"]: i for i in result["Invoice"]}
    assert invoices[inv_a["Id"]]["Balance"] == D("30.00") and int(invoices[inv_a["Id"]]["SyncToken"]) >= 2
    assert invoices[inv_b["Id"]]["Balance"] == D("40.00") and int(invoices[inv_b["Id"]]["SyncToken"]) >= 2


def test_thirty_day_limit_is_switchable(company: Api, admin: httpx.Client) -> None:
    old = (datetime.now() - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%S-08:00")
    r = company.get("/cdc", entities="Invoice", changedSince=old)
    assert r.status_code == 400 and parse(r)["Fault"]["Error"][0]["code"] == "4001"
    admin.put("/_emulator/config", json={"realm_id": company.realm, "cdc_strict_30_days": False})
    assert company.get("/cdc", entities="Invoice", changedSince=old).status_code == 200
    bad = company.get("/cdc", entities="Invoice")
    assert bad.status_code == 400


def test_cap_truncates_or_faults(company: Api, admin: httpx.Client) -> None:
    start = company.read("CompanyInfo", company.realm)["MetaData"]["CreateTime"]
    admin.put("/_emulator/config", json={"realm_id": company.realm, "cdc_max_objects": 5})
    customer = company.customer("Many")
    for n in range(6):
        company.invoice(customer["Id"], f"{n + 1}.00")
    truncated = cdc(company, "Invoice,Customer", start)
    assert len(truncated["Invoice"]) + len(truncated.get("Customer", [])) == 5
    admin.put("/_emulator/config", json={"realm_id": company.realm, "cdc_overflow": "fault"})
    r = company.get("/cdc", entities="Invoice,Customer", changedSince=start)
    assert r.status_code == 400
    assert cdc(company, "Customer", start)["Customer"][0]["Id"] == customer["Id"]  # per entity it fits


def test_default_cap_is_1000(seeded: Api, admin: httpx.Client) -> None:
    cfg = admin.get("/_emulator/config", params={"realm_id": seeded.realm}).json()["config"]
    assert cfg["cdc_max_objects"] == 1000 and cfg["cdc_overflow"] == "truncate"
