"""Every fixture in ../shared/qbo-fixtures parses into the models or into the right exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from qbo import batch as batch_mod
from qbo.envelopes import QueryResult, entity_from_envelope, query_result
from qbo.errors import (
    QboDuplicate,
    QboError,
    QboNotFound,
    QboStaleObject,
    QboThrottled,
    QboUnauthorized,
    QboValidationError,
)
from qbo.faults import error_for_response, oauth_error
from qbo.jsonio import dumps, loads
from qbo.models import Account, CreditMemo, Customer, Deposit, Invoice, Payment, QboObject, Tombstone
from qbo.oauth import TokenSet
from qbo.pages import decode_answer, raw_cdc_objects
from tests.qbo_fixtures import QBO_FIXTURES as FIXTURES

AIRBYTE_STREAMS = {
    "accounts": Account,
    "credit_memos": CreditMemo,
    "customers": Customer,
    "deposits": Deposit,
    "invoices": Invoice,
    "payments": Payment,
}


def _load(name: str) -> Any:
    return loads((FIXTURES / name).read_bytes())


def _no_float(value: Any, where: str = "$") -> None:
    if isinstance(value, float):
        raise AssertionError(f"float at {where}: {value!r}")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_float(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_float(v, f"{where}[{i}]")


def _envelope(name: str) -> QboObject:
    data = _load(name)
    entity = next(k for k in data if k != "time")
    return entity_from_envelope(entity, data, "tid-1")


def _parse(name: str) -> Any:
    """Parse a fixture the way the client would meet it; return the model(s) or exception."""
    raw = (FIXTURES / name).read_bytes()
    if name.startswith("airbyte_record_"):
        record = loads(raw)
        model = AIRBYTE_STREAMS[record["stream"]]
        return model.model_validate(record["data"])
    if name.startswith("fault_401"):
        return error_for_response(401, raw, "application/json", intuit_tid="tid-401")
    if name.startswith("fault_400"):
        return error_for_response(400, raw, "application/json", intuit_tid="tid-400")
    if name.startswith("throttle_exceeded"):
        status = 429 if "429" in name else 403
        return error_for_response(status, raw, "text/xml", intuit_tid="tid-429")
    if name.startswith("oauth_refresh_invalid_grant"):
        return oauth_error(400, raw)
    if name.startswith("oauth_token_response"):
        return TokenSet.model_validate(loads(raw))
    if name.startswith("query_"):
        return query_result(loads(raw)["QueryResponse"], "tid-q")
    if name.startswith("cdc_response"):
        return raw_cdc_objects(decode_answer(raw)["CDCResponse"], "tid-cdc")
    if name.startswith("batch_response"):
        data = loads(raw)
        ops = {item["bId"]: batch_mod.BatchOp(item["bId"]) for item in data["BatchItemResponse"]}
        return batch_mod.parse_response(data, ops, "tid-b")
    return None


def _outcome(result: Any) -> Any:
    """A non-entity parse result reduced to the facts a fixture pins: the exception's type and code, the rows'
    entity and Ids, the batch items in order, the tokens' values."""
    if isinstance(result, QboError):
        return (type(result).__name__, result.code, result.retryable)
    if isinstance(result, QueryResult):
        return ("query", result.entity, [item.Id for item in result.items], result.total_count)
    if isinstance(result, dict):  # CDC: per entity, the Ids
        return ("cdc", {entity: [item.qbo_id for item in items] for entity, items in result.items()})
    if isinstance(result, list):  # batch: per bId, the object's Id, the query's Ids or the fault
        return ("batch", [(r.key, r.object.Id if r.object else None,
                           [i.Id for i in r.query.items] if r.query else None,
                           (type(r.error).__name__, r.error.code) if r.error else None) for r in result])
    if isinstance(result, TokenSet):
        return ("tokens", result.access_token.get_secret_value(), result.refresh_token.get_secret_value(),
                result.expires_in, result.x_refresh_token_expires_in, result.x_refresh_token_hard_expires_in)
    return ("unexpected", type(result).__name__)

# What each non-entity fixture (fault, query, CDC, batch, token) must parse to, read off the fixture itself.
OUTCOMES: dict[str, Any] = {
    "batch_response_with_610_and_5010_faults.json": ("batch", [
        ("bid1", "71", None, None), ("bid2", None, None, ("QboNotFound", "610")),
        ("bid3", None, None, ("QboStaleObject", "5010")), ("bid4", None, ["17", "11"], None)]),
    "cdc_response_estimates.json": ("cdc", {"Estimate": ["48", "46", "41", "100"]}),
    "fault_400_duplicate_name_6240.json": ("QboDuplicate", "6240", False),
    "fault_400_duplicate_name_6240_taxrate.json": ("QboDuplicate", "6240", False),
    "fault_400_invalid_id_2030.json": ("QboNotFound", "2030", False),
    "fault_400_invalid_query_4001.json": ("QboValidationError", "4001", False),
    "fault_400_unsupported_operation_500.json": ("QboValidationError", "500", False),
    "fault_400_unsupported_property_2010.json": ("QboValidationError", "2010", False),
    "fault_401_token_expired_3200.json": ("QboUnauthorized", "3200", True),
    "oauth_refresh_invalid_grant_error.json": ("QboAuthError", "invalid_grant", False),
    "oauth_token_response.json": ("tokens", "sample_access_token", "sample_refresh_token", 3600, 8726400, None),
    "oauth_token_response_with_hard_expiry.json": (
        "tokens", "eyJhbGciOiJkaXIi..sample", "RT1-39-H3-1785429816rcysb9dns1ofreknypnm", 3600, 8726400, 156032154),
    "query_count_response.json": ("query", None, [], 41),
    "query_customer_by_displayname_escaped_quote.json": ("query", "Customer", ["1"], None),
    "query_customer_page_maxresults2.json": ("query", "Customer", ["5", "6"], None),
    "query_empty_page_past_end.json": ("query", None, [], None),
}


# Fixtures that are not QBO API answers for this client, with the reason (a new fixture must be placed).
NOT_CLIENT_PAYLOADS = {
    "webhook_cloudevents_notification_blog_2025.json": "webhook body: parsed by the API's webhook endpoint",
    "webhook_legacy_notification_blog_2025.json": "webhook body: parsed by the API's webhook endpoint",
    "webhook_legacy_notification_docs.json": "webhook body: parsed by the API's webhook endpoint",
    "oauth_openid_discovery_document.json": "discovery document: hosts come from settings (§10.1)",
    "cdc_invoice_deleted.xml": "XML entity payload: the client asks for JSON; see test_xml_cdc_tombstone_shape",
    "deposit_with_negative_fee_line.xml": "XML entity payload: the client asks for JSON",
    "payment_void_response.xml": "XML entity payload: the client asks for JSON",
}
REQUEST_BODIES = {
    "invoice_create_request.json": None,
    "invoice_delete_request.json": None,
    "invoice_void_request.json": None,
    "batch_request.json": None,
    "customer_update_request.json": Customer,
    "account_sparse_update_request.json": Account,
}


def test_every_fixture_is_covered() -> None:
    """A new fixture must be parsed by something (or listed above with a reason)."""
    names = {p.name for p in FIXTURES.iterdir() if p.suffix in (".json", ".xml")}
    for name in sorted(names - set(NOT_CLIENT_PAYLOADS) - set(REQUEST_BODIES)):
        assert _parse(name) is not None or isinstance(_envelope(name), QboObject), name


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for p in FIXTURES.glob("*.json")
        if p.name not in NOT_CLIENT_PAYLOADS and p.name not in REQUEST_BODIES
    ),
)
def test_json_fixture_parses(name: str) -> None:
    result = _parse(name)
    if result is None:  # a single-entity envelope: read/create/update/void/delete answers
        result = _envelope(name)
        assert result.intuit_tid == "tid-1"
    if isinstance(result, QboObject):
        _no_float(result.model_dump())
        if not isinstance(result, Tombstone):
            assert result.SyncToken is not None
            assert result.MetaData is not None and result.MetaData.LastUpdatedTime.tzinfo is not None
    else:  # a fault, query, CDC, batch or token answer: it must parse to what the fixture says
        assert name in OUTCOMES, f"{name}: add its expected outcome to OUTCOMES"
        assert _outcome(result) == OUTCOMES[name]


@pytest.mark.parametrize("name", sorted(REQUEST_BODIES))
def test_request_bodies_round_trip_exactly(name: str) -> None:
    raw = (FIXTURES / name).read_text()
    data = loads(raw)
    assert loads(dumps(data)) == data
    model = REQUEST_BODIES[name]
    if model is not None:
        obj = model.model_validate(data)
        assert obj.Id == data["Id"]


def test_invoice_amounts_are_exact_decimals_and_unknown_fields_kept() -> None:
    inv = _envelope("invoice_create_response.json")
    assert isinstance(inv, Invoice)
    assert inv.TotalAmt == Decimal("100.00") and str(inv.TotalAmt) == "100.00"
    assert [line.Amount for line in inv.Line] == [Decimal("100.00"), Decimal("100.00")]
    assert inv.Balance == Decimal("100.00")
    assert inv.CustomerRef.name == "Amy's Bird Sanctuary"
    assert inv.AllowIPNPayment is False  # unknown to the model, kept
    assert inv.model_dump()["BillAddr"]["Lat"] == "INVALID"
    assert not inv.is_voided


def test_void_and_delete_shapes() -> None:
    voided = _envelope("invoice_void_response.json")
    assert isinstance(voided, Invoice) and voided.is_voided and voided.SyncToken == "1"
    gone = _envelope("invoice_delete_response.json")
    assert isinstance(gone, Tombstone) and gone.Id == "266" and gone.SyncToken is None


def test_deposit_total_is_lines_minus_cashback_to_the_cent() -> None:
    dep = _parse("airbyte_record_deposit_121_payments_and_cashback.json")
    assert isinstance(dep, Deposit)
    assert sum(line.Amount for line in dep.Line) - dep.CashBack.Amount == dep.TotalAmt == Decimal("868.15")
    assert [t.TxnId for line in dep.Line for t in line.LinkedTxn] == ["97", "94", "116", "98", "101"]


def test_payment_links_and_deposit_lock_signal() -> None:
    paid = _parse("airbyte_record_payment_98_linked_invoice_and_deposit.json")
    assert isinstance(paid, Payment)
    assert paid.deposit_ids == ["121"]
    assert paid.Line[0].LinkedTxn[0].TxnId == "42" and paid.Line[0].Amount == Decimal("81.0")
    undeposited = _parse("airbyte_record_payment_120_undeposited.json")
    assert undeposited.deposit_ids == [] and undeposited.TotalAmt == Decimal("1675.52")


def test_pacific_timestamps_compare_as_instants() -> None:
    acct = _envelope("account_read_inactive.json")  # LastUpdatedTime 2018-01-05T12:15:34-08:00 (PST)
    assert acct.last_updated == datetime(2018, 1, 5, 20, 15, 34, tzinfo=UTC)
    inv = _envelope("invoice_create_response.json")  # -07:00 (PDT)
    assert inv.last_updated == datetime(2020, 9, 29, 12, 58, 7, tzinfo=UTC)


def test_query_pages_and_counts() -> None:
    page = _parse("query_customer_page_maxresults2.json")
    assert page.entity == "Customer" and [c.Id for c in page.items] == ["5", "6"] and page.start_position == 1
    assert _parse("query_empty_page_past_end.json").items == []
    assert _parse("query_count_response.json").total_count == 41
    amy = _parse("query_customer_by_displayname_escaped_quote.json").items[0]
    assert (
        isinstance(amy, Customer)
        and amy.DisplayName == "Amy's Bird Sanctuary"
        and amy.Balance == Decimal("739.00")
    )


def test_cdc_envelope_matched_by_key() -> None:
    found = _parse("cdc_response_estimates.json")
    assert list(found) == ["Estimate"] and len(found["Estimate"]) == 4
    first = loads(found["Estimate"][0].json)
    assert first["TotalAmt"] == Decimal("1005.00") and '"TotalAmt":1005.00' in found["Estimate"][0].json


def test_batch_items_matched_by_bid_with_typed_faults() -> None:
    results = {r.key: r for r in _parse("batch_response_with_610_and_5010_faults.json")}
    assert results["bid1"].ok and results["bid1"].object.Id == "71"
    assert isinstance(results["bid2"].error, QboNotFound) and results["bid2"].error.code == "610"
    assert isinstance(results["bid3"].error, QboStaleObject) and results["bid3"].error.code == "5010"
    assert results["bid4"].query.entity == "SalesReceipt"
    assert results["bid4"].query.items[0].TotalAmt == Decimal("337.50")


def test_faults_map_to_the_right_exceptions() -> None:
    expired = _parse("fault_401_token_expired_3200.json")
    assert isinstance(expired, QboUnauthorized) and expired.code == "3200" and expired.intuit_tid == "tid-401"
    assert "AB01601390262kxzxOlnHYdhtEVRXISU7piPqQrCmmbDN35Yjd" not in str(expired) + repr(expired)
    dup = _parse("fault_400_duplicate_name_6240.json")
    assert (
        isinstance(dup, QboDuplicate) and dup.code == "6240" and dup.message == "Duplicate Name Exists Error"
    )
    assert isinstance(_parse("fault_400_duplicate_name_6240_taxrate.json"), QboDuplicate)
    invalid_id = _parse("fault_400_invalid_id_2030.json")
    assert isinstance(invalid_id, QboNotFound) and invalid_id.element == "Id"
    query = _parse("fault_400_invalid_query_4001.json")
    assert type(query) is QboValidationError and query.code == "4001" and "Custmoer" in query.detail
    assert type(_parse("fault_400_unsupported_operation_500.json")) is QboValidationError
    prop = _parse("fault_400_unsupported_property_2010.json")
    assert type(prop) is QboValidationError and prop.code == "2010"


@pytest.mark.parametrize("name", ["throttle_exceeded_429.xml", "throttle_exceeded_403.xml"])
def test_xml_throttle_faults(name: str) -> None:
    err = _parse(name)
    assert isinstance(err, QboThrottled) and err.code == "3001" and err.retryable
    assert err.detail == "The request limit was reached.  Try again later"


def test_xml_cdc_tombstone_shape() -> None:
    """The only public CDC tombstone is XML; the JSON form (§4) parses to the same Tombstone."""
    from qbo.models import parse_entity

    tomb = parse_entity(
        "Invoice",
        {
            "domain": "QBO",
            "status": "Deleted",
            "Id": "39",
            "MetaData": {"LastUpdatedTime": "2014-12-08T19:36:24-08:00"},
        },
    )
    assert isinstance(tomb, Tombstone) and tomb.last_updated == datetime(2014, 12, 9, 3, 36, 24, tzinfo=UTC)
    # ... and so does the CDC reader the sync uses (qbo.pages): deleted, no version, the same instant.
    body = dumps({"CDCResponse": [{"QueryResponse": [{"Invoice": [{"domain": "QBO", "status": "Deleted", "Id": "39",
                  "MetaData": {"LastUpdatedTime": "2014-12-08T19:36:24-08:00"}}]}]}]})
    (raw,) = raw_cdc_objects(decode_answer(body.encode())["CDCResponse"], None)["Invoice"]
    assert (raw.qbo_id, raw.deleted, raw.sync_token, raw.last_updated) == ("39", True, None, tomb.last_updated)


def test_oauth_token_responses_and_invalid_grant() -> None:
    plain = _parse("oauth_token_response.json")
    assert plain.refresh_hard_expires_at is None and plain.expires_in == 3600
    hard = _parse("oauth_token_response_with_hard_expiry.json")
    assert hard.x_refresh_token_hard_expires_in == 156032154
    assert "RT1-39-H3" not in repr(hard) and "RT1-39-H3" not in str(hard.model_dump())
    err = _parse("oauth_refresh_invalid_grant_error.json")
    assert err.code == "invalid_grant" and not err.retryable and type(err).__name__ == "QboAuthError"


def test_money_never_accepts_float() -> None:
    with pytest.raises(ValueError):
        Invoice.model_validate(json.loads('{"Id": "1", "TotalAmt": 0.1}'))
