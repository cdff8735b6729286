"""Batch (qbo-reference §7.6): ≤ 30 items, independent items with per-item faults, HTTP 200."""

from __future__ import annotations

import httpx

from tests.emulator.support import Api, parse


def test_items_run_independently(company: Api) -> None:
    customer = company.customer("Batcher")
    invoice = company.invoice(customer["Id"], "30.00")
    r = company.post("/batch", {"BatchItemRequest": [
        {"bId": "1", "operation": "create", "Invoice": {"CustomerRef": {"value": customer["Id"]}, "Line": [
            {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]}},
        {"bId": "2", "operation": "create", "Payment": {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 10,
                                                        "Line": [{"Amount": 10, "LinkedTxn": [
                                                            {"TxnId": "99999", "TxnType": "Invoice"}]}]}},
        {"bId": "3", "operation": "update", "Invoice": {"Id": invoice["Id"], "SyncToken": "7", "sparse": True}},
        {"bId": "4", "operation": "create", "Payment": {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 30,
                                                        "Line": [{"Amount": 30, "LinkedTxn": [
                                                            {"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}},
        {"bId": "5", "Query": "SELECT COUNT(*) FROM Invoice"},
        {"bId": "6", "operation": "delete", "Customer": {"Id": customer["Id"], "SyncToken": "0"}},
    ]})
    assert r.status_code == 200
    items = {i["bId"]: i for i in parse(r)["BatchItemResponse"]}
    assert "Invoice" in items["1"] and items["4"]["Payment"]["TotalAmt"] == 30
    assert items["2"]["Fault"]["Error"][0]["code"] == "610"
    assert items["3"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["5"]["QueryResponse"]["totalCount"] == 2
    assert items["6"]["Fault"]["Error"][0]["code"] == "500"  # customers can't be deleted
    assert company.read("Invoice", invoice["Id"])["Balance"] == 0
    # the failed payment left nothing behind
    assert len(company.query("SELECT * FROM Payment")["Payment"]) == 1


def test_more_than_30_items_rejected(company: Api, admin: httpx.Client) -> None:
    items = [{"bId": str(n), "Query": "SELECT COUNT(*) FROM Customer"} for n in range(31)]
    r = company.post("/batch", {"BatchItemRequest": items})
    assert r.status_code == 400 and parse(r)["Fault"]["Error"][0]["code"] == "6000"
    r = company.post("/batch", {"BatchItemRequest": items[:30]})
    assert r.status_code == 200 and len(parse(r)["BatchItemResponse"]) == 30
    stats = admin.get("/_emulator/requests", params={"realm_id": company.realm}).json()
    assert stats["by_operation"]["batch"] == 2 and stats["batch_items"] == 30


def test_requestid_joined_with_bid_over_50_chars(company: Api) -> None:
    rid = "r" * 45
    r = company.post("/batch", {"BatchItemRequest": [
        {"bId": "short", "Query": "SELECT COUNT(*) FROM Customer"},
        {"bId": "much-too-long", "Query": "SELECT COUNT(*) FROM Customer"}]}, requestid=rid)
    items = {i["bId"]: i for i in parse(r)["BatchItemResponse"]}
    assert "QueryResponse" in items["short"] and items["much-too-long"]["Fault"]["Error"][0]["code"] == "6000"


def test_batch_requestid_replay_or_6000(company: Api, admin: httpx.Client) -> None:
    body = {"BatchItemRequest": [{"bId": "c1", "operation": "create", "Customer": {"DisplayName": "Once Only"}}]}
    first = company.post("/batch", body, requestid="batch-1")
    again = company.post("/batch", body, requestid="batch-1")
    assert again.content == first.content
    assert company.query("SELECT COUNT(*) FROM Customer WHERE DisplayName = 'Once Only'")["totalCount"] == 1
    admin.put("/_emulator/config", json={"realm_id": company.realm, "batch_requestid_reuse_6000": True})
    third = company.post("/batch", body, requestid="batch-1")
    assert third.status_code == 400 and parse(third)["Fault"]["Error"][0]["code"] == "6000"
