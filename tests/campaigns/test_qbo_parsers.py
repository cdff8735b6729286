"""Fuzzing the QBO payload parsers with what a broken or hostile server could send.

The contract each parser keeps (and these tests assert exactly):

- `qbo.jsonio.loads`: the data, with no float anywhere (amounts are `Decimal`), or `ValueError`.
- `qbo.models.parse_entity`: a model, or pydantic `ValidationError` (the object is not a valid QBO object).
- envelope readers (`entity_from_envelope`, `query_result`, `batch.parse_response`):
  `QboServerError` ("a 200 that is not a QBO answer") for a broken envelope, pydantic `ValidationError` for a
  broken object inside a good one.
- the raw CDC reader the sync uses (`qbo.pages.decode_answer` + `raw_cdc_objects`): per entity, objects whose
  JSON text is a JSON object with an Id and a version (or a tombstone), or `QboServerError`, nothing else.
- fault readers (`parse_fault_body`, `error_for_response`, `oauth_error`): never raise; always a `QboError`.
- the whole HTTP path (`QboHttp.api` over a mock transport): a `QboResponse` whose data holds no float, or a
  `QboError` subclass: nothing else reaches an activity.

A parsed model never holds a float, and every `Decimal` in it is finite. The rules module (`rules/facts.py`,
the converters from staged QBO JSON to platform facts) is fuzzed in `tests/rules/test_properties.py` and
`tests/rules/test_facts.py`, not here.
"""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError

from qbo import batch
from qbo.envelopes import entity_from_envelope, query_result
from qbo.errors import QboError, QboServerError
from qbo.faults import Fault, error_for_response, oauth_error, parse_fault_body
from qbo.http import QboHttp, QboResponse
from qbo.jsonio import loads
from qbo.models import MODELS, QboObject, parse_entity
from qbo.pages import RawObject, decode_answer, raw_cdc_objects
from tests.campaigns.tally import record
from tests.qbo_fixtures import QBO_FIXTURES as FIXTURES

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
ENTITIES = [*MODELS, "Estimate", "invoice", "PAYMENT", ""]


def _fixture_bodies() -> dict[str, Any]:
    out = {}
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text(), parse_float=Decimal)
        out[path.name] = data["data"] if path.name.startswith("airbyte_") else data
    return out


JSON_FIXTURES = _fixture_bodies()
XML_FIXTURES = {p.name: p.read_bytes() for p in sorted(FIXTURES.glob("*.xml"))}
# (entity, object) pairs found in the fixtures: top-level envelopes and airbyte records
ENTITY_FIXTURES: list[tuple[str, Any]] = []
for _name, _data in JSON_FIXTURES.items():
    for _entity in MODELS:
        if isinstance(_data, dict) and isinstance(_data.get(_entity), dict):
            ENTITY_FIXTURES.append((_entity, _data[_entity]))
    _stream = _name.removeprefix("airbyte_record_").split("_")[0]
    if _name.startswith("airbyte_"):
        ENTITY_FIXTURES.append((next((m for m in MODELS if m.lower() == _stream), "Invoice"), _data))

# --- strategies -----------------------------------------------------------------------------------------

QBO_KEYS = ["Id", "SyncToken", "TotalAmt", "Balance", "Amount", "Line", "LinkedTxn", "TxnId", "TxnType",
            "CustomerRef", "value", "MetaData", "LastUpdatedTime", "CreateTime", "DueDate", "TxnDate",
            "status", "domain", "QueryResponse", "CDCResponse", "BatchItemResponse", "bId", "Fault", "Error",
            "code", "Message", "Detail", "element", "Invoice", "Customer", "Payment", "Deposit", "Account",
            "startPosition", "totalCount", "maxResults", "time", "CurrencyRef", "ExchangeRate", "CashBack",
            "PrimaryEmailAddr", "Address", "Active", "DisplayName", "DocNumber", "PrivateNote"]
HOSTILE_SCALARS = [
    "", "NaN", "nan", "Infinity", "-Infinity", "1e999999", "-0", "1.005", "12.345", "0x10", " 1 ", "١٢٣",
    "\x00", "\ud800", "\u202eevil", "😀" * 50, "' OR 1=1 --", "<xml/>", "x" * 10_000, "9" * 5000,
    True, False, 0, -1, 2**63, -(2**63) - 1, 10**40, Decimal("1e999999"), Decimal("-1e-999999"),
    Decimal("0.001"), Decimal("123456789012345678901234567890.123456789"), [], {}, [[]], {"": None},
    "2026-02-30", "2026-01-01T00:00:00", "2026-01-01T00:00:00+25:00", "9999-99-99T99:99:99Z",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**60), max_value=10**60),
    st.decimals(allow_nan=False, allow_infinity=False), st.text(), st.sampled_from(HOSTILE_SCALARS),
)
keys = st.one_of(st.sampled_from(QBO_KEYS), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=30,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _deep(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = {"a": [value]}
    return value


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """A real payload with 1–4 mutations at random places: a key dropped, a value replaced by a hostile one
    or by a random JSON value, a value wrapped in deep nesting, an object turned into a list."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(doc)))
        op = draw(st.sampled_from(["drop", "hostile", "random", "deep", "listify", "stringify"]))
        if not path:
            if op in ("random", "hostile"):
                doc = draw(json_values)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if op == "drop":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif op == "hostile":
            parent[last] = draw(st.sampled_from(HOSTILE_SCALARS))
        elif op == "random":
            parent[last] = draw(json_values)
        elif op == "deep":
            parent[last] = _deep(parent[last], draw(st.integers(5, 60)))
        elif op == "listify":
            parent[last] = [parent[last]]
        else:
            parent[last] = json.dumps(parent[last], default=str)
    return doc


def _encode(value: Any) -> bytes:
    """JSON the way a server would write it (Decimals as numbers, lone surrogates escaped)."""
    return _dumps(value).encode()


def _dumps(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f") if abs(value.adjusted()) < 50 else str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return json.dumps(value)


RAW_HOSTILE = [
    b"", b" ", b"null", b"[]", b"{}", b"NaN", b'{"TotalAmt": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}',
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"1e999999",
    b'{"n": ' + b"9" * 5000 + b"}", b"\xff\xfe\x00{", b'{"a": "\xc3\x28"}', b'"\\ud800"', b"\x00" * 64,
    b"<html><body>502 Bad Gateway</body></html>", b'{"Fault": {"Error": 5}}', b'{"Fault": []}',
    b'{"QueryResponse": {"Invoice": [1, "x", null]}}', b'{"CDCResponse": [[1], "x"]}', b'\xef\xbb\xbf{}',
]
raw_bodies = st.one_of(
    st.sampled_from(RAW_HOSTILE),
    st.binary(max_size=300),
    json_values.map(_encode),
    st.sampled_from(list(JSON_FIXTURES.values())).flatmap(mutated).map(_encode),
    st.sampled_from(list(JSON_FIXTURES.values())).map(_encode).flatmap(
        lambda b: st.tuples(st.integers(0, max(0, len(b) - 1)), st.binary(min_size=1, max_size=4)).map(
            lambda cut: b[: cut[0]] + cut[1] + b[cut[0] + len(cut[1]):]
        )
    ),
)

XML_TOKENS = ["<", ">", "</", "/>", "Fault", "Error", "IntuitResponse", "Message", "Detail", 'code="3001"',
              ' type="x"', "&amp;", "&bogus;", "<![CDATA[", "]]>", "<!--", "-->", '<?xml version="1.0"?>',
              '<?xml version="1.0" encoding="UTF-16"?>', ' xmlns="http://schema.intuit.com/finance/v3"',
              '<!DOCTYPE a [<!ENTITY e "xxxxxxxxxx">]>', "&e;", '<!ENTITY x SYSTEM "file:///etc/passwd">', "\x00",
              "é", "\ud800", " "]
xml_bodies = st.one_of(
    st.lists(st.sampled_from(XML_TOKENS), max_size=40).map(lambda t: "".join(t).encode("utf-8", "surrogatepass")),
    st.sampled_from(list(XML_FIXTURES.values())).flatmap(
        lambda b: st.tuples(st.integers(0, len(b)), st.integers(0, 40), st.sampled_from(XML_TOKENS)).map(
            lambda m: b[: m[0]] + m[2].encode("utf-8", "surrogatepass") + b[m[0] + m[1]:]
        )
    ),
    st.just(b"<a>" * 20_000),
    st.just(b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Fault><Error code="1"><Message>&c;</Message>'
            b"</Error></Fault>"),
)

# --- checks -----------------------------------------------------------------------------------------------


def assert_no_float(value: Any, where: str = "$") -> None:
    """No float anywhere; every Decimal finite (money is exact, end to end)."""
    if isinstance(value, BaseModel):
        assert_no_float(value.model_dump(mode="python"), where)
    elif isinstance(value, float):
        raise AssertionError(f"float at {where}: {value!r}")
    elif isinstance(value, Decimal):
        assert value.is_finite(), f"non-finite Decimal at {where}: {value!r}"
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_no_float(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            assert_no_float(v, f"{where}[{i}]")


def expect(campaign: str, fn, allowed: tuple[type[BaseException], ...]) -> Any:
    """Run one parse; only the contract's exception types may escape. Counts parsed vs rejected."""
    try:
        result = fn()
    except allowed:
        record(campaign, "rejected")
        return None
    record(campaign, "parsed")
    return result


def _check_object(obj: Any) -> None:
    if obj is not None:
        assert isinstance(obj, QboObject)
        assert_no_float(obj)
        if obj.SyncToken is not None:
            assert obj.sync_token >= 0


# --- campaigns ----------------------------------------------------------------------------------------------


@FUZZ
@given(raw_bodies)
def test_loads_gives_decimal_data_or_value_error(body: bytes) -> None:
    data = expect("qbo.jsonio.loads", lambda: loads(body), (ValueError,))
    assert_no_float(data)


@FUZZ
@given(st.sampled_from(ENTITIES), st.one_of(json_values, st.sampled_from(ENTITY_FIXTURES).flatmap(
    lambda pair: mutated(pair[1]))))
def test_parse_entity_gives_a_model_or_validation_error(entity: str, data: Any) -> None:
    obj = expect("qbo.models.parse_entity", lambda: parse_entity(entity, data), (ValidationError,))
    _check_object(obj)


@FUZZ
@given(st.sampled_from(ENTITY_FIXTURES).flatmap(lambda pair: st.tuples(st.just(pair[0]), mutated(pair[1]))))
def test_mutated_fixture_objects_parse_or_fail_validation(pair: tuple[str, Any]) -> None:
    entity, data = pair
    # through the wire: a server writes the mutated object, the client reads it back
    body = expect("qbo.models.parse_entity (wire)", lambda: parse_entity(entity, loads(_encode(data))),
                  (ValidationError, ValueError))
    _check_object(body)


def test_every_fixture_object_parses_unmutated() -> None:
    """The baseline the mutations start from: the real payloads parse, with no float."""
    assert len(ENTITY_FIXTURES) >= 10
    for entity, data in ENTITY_FIXTURES:
        _check_object(parse_entity(entity, loads(_encode(data))))


ENVELOPE_ERRORS = (QboServerError, ValidationError)


@FUZZ
@given(st.one_of(json_values, st.sampled_from(list(JSON_FIXTURES.values())).flatmap(mutated)),
       st.sampled_from(ENTITIES))
def test_envelope_readers_raise_only_server_or_validation_errors(data: Any, entity: str) -> None:
    obj = expect("qbo.envelopes.entity_from_envelope", lambda: entity_from_envelope(entity or "Invoice", data, "t"),
                 ENVELOPE_ERRORS)
    _check_object(obj)
    qr_source = data.get("QueryResponse", data) if isinstance(data, dict) else data
    qr = expect("qbo.envelopes.query_result", lambda: query_result(qr_source, "t", entity or None), ENVELOPE_ERRORS)
    if qr is not None:
        for item in qr.items:
            _check_object(item)
    found = expect("qbo.pages.raw_cdc_objects", lambda: _raw_cdc(data), (QboServerError,))
    for objs in (found or {}).values():
        for item in objs:
            _check_raw(item)
    by_bid = {"bid1": batch.BatchOp.create("a", "Invoice", {}), "bid2": batch.BatchOp.select("b", "select 1"),
              "bid3": batch.BatchOp.create("c", "Payment", {}), "bid4": batch.BatchOp.create("d", "Customer", {})}
    results = expect("qbo.batch.parse_response", lambda: batch.parse_response(data, by_bid, "t"), ENVELOPE_ERRORS)
    for res in results or []:
        assert res.error is None or isinstance(res.error, QboError)
        _check_object(res.object)


def _raw_cdc(data: Any) -> dict[str, list[RawObject]]:
    """A CDC answer read as the sync reads it: `decode_answer` as QboHttp.api's parser (a ValueError there is
    the client's QboServerError "not JSON"), then `raw_cdc_objects`."""
    try:
        answer = decode_answer(_encode(data))
    except ValueError:
        raise QboServerError("not JSON") from None
    return raw_cdc_objects(answer.get("CDCResponse") if isinstance(answer, dict) else None, "t")


def _check_raw(obj: RawObject) -> None:
    data = loads(obj.json)
    assert isinstance(data, dict) and data["Id"] == obj.qbo_id
    assert_no_float(data)
    assert obj.deleted == (data.get("status") == "Deleted")
    assert (obj.sync_token is None) if obj.deleted else (obj.sync_token >= 0 and int(data["SyncToken"]) == obj.sync_token)


# CDC answers as the sync meets them: the real fixture, and the emulator's shape with a tombstone, an empty
# element and an entity asked in another case (qbo-reference §4).
CDC_ANSWERS = [JSON_FIXTURES["cdc_response_estimates.json"], {"CDCResponse": [{"QueryResponse": [
    {"Invoice": [{"Id": "7", "SyncToken": "3", "TotalAmt": Decimal("12345678901234567.89"),
                  "MetaData": {"LastUpdatedTime": "2020-09-29T05:58:07-07:00"}},
                 {"domain": "QBO", "status": "Deleted", "Id": "8",
                  "MetaData": {"LastUpdatedTime": "2020-09-29T05:59:07-07:00"}}], "startPosition": 1, "maxResults": 2},
    {}, {"customer": [{"Id": "1", "SyncToken": "0", "Balance": Decimal("0.10")}]}]}], "time": "2020-09-29T08:02:53.512-07:00"}]


@FUZZ
@given(st.sampled_from(CDC_ANSWERS).flatmap(mutated))
def test_mutated_cdc_answers_read_raw_or_raise_a_server_error(data: Any) -> None:
    """The sync's CDC reader on a broken answer: objects that are what their JSON says, or QboServerError."""
    found = expect("qbo.pages.raw_cdc_objects (mutated CDC answers)", lambda: _raw_cdc(data), (QboServerError,))
    for objs in (found or {}).values():
        for item in objs:
            _check_raw(item)


def test_cdc_answers_read_raw_unmutated() -> None:
    """The baseline the mutations start from, amounts kept to the digit."""
    assert [{e: [o.qbo_id for o in objs] for e, objs in _raw_cdc(a).items()} for a in CDC_ANSWERS] == [
        {"Estimate": ["48", "46", "41", "100"]}, {"Invoice": ["7", "8"], "Customer": ["1"]}]
    invoice = _raw_cdc(CDC_ANSWERS[1])["Invoice"][0]
    assert '"TotalAmt":12345678901234567.89' in invoice.json and loads(invoice.json)["TotalAmt"] == Decimal(
        "12345678901234567.89")


# A token as QBO issues them; servers quote it whole or cut short (scrub removes any run that starts with its
# first 12 characters).
SECRET = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..s3cr3t-token-value"
_xml_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=["Cs", "Cc"]),
                    max_size=30)


@st.composite
def planted_faults(draw: st.DrawFn) -> tuple[bytes, str]:
    """A well-formed fault (JSON or XML) whose Message, Detail, element or code quotes the secret, whole or cut
    after 12 or more characters, with arbitrary text around it. Returns the body and the field holding it."""
    quoted = draw(_xml_text) + SECRET[:draw(st.sampled_from([len(SECRET), 12, 20]))] + draw(_xml_text)
    fields = {"message": draw(_xml_text), "detail": draw(_xml_text), "element": draw(_xml_text),
              "code": draw(st.sampled_from(["3200", "3100", "3001", "5010", "6000", "6540", "6240", "610", "500"]))}
    where = draw(st.sampled_from(sorted(fields)))
    fields[where] = quoted
    if draw(st.booleans()):
        error = {"Message": fields["message"], "Detail": fields["detail"], "code": fields["code"],
                 "element": fields["element"]}
        return json.dumps({"Fault": {"Error": [error], "type": "ValidationFault"}, "time": "2024-01-01"}).encode(), where
    from xml.sax.saxutils import escape, quoteattr
    xml = (f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3"><Fault type="ValidationFault">'
           f'<Error code={quoteattr(fields["code"])} element={quoteattr(fields["element"])}>'
           f'<Message>{escape(fields["message"])}</Message><Detail>{escape(fields["detail"])}</Detail></Error>'
           f'</Fault></IntuitResponse>')
    return xml.encode(), where


def _assert_secret_kept_out(err: QboError) -> None:
    for text in (str(err), repr(err), json.dumps(err.to_dict())):
        assert SECRET[:12] not in text, text


@FUZZ
@given(st.one_of(raw_bodies, xml_bodies), st.integers(0), st.sampled_from([400, 401, 403, 404, 409, 429, 500, 503]),
       st.sampled_from([None, "application/json", "application/xml", "text/html", "text/plain;charset=utf-16"]))
def test_fault_readers_always_map_to_a_qbo_error(body: bytes, at: int, status: int, content_type: str | None) -> None:
    at %= len(body) + 1
    body = body[:at] + SECRET.encode() + body[at:]  # planted anywhere, even where it breaks the body
    fault = parse_fault_body(body, content_type)
    assert fault is None or isinstance(fault, Fault)
    if fault is not None:
        for entry in fault.errors:
            assert all(v is None or isinstance(v, str) for v in (entry.code, entry.detail, entry.element))
            assert isinstance(entry.message, str)
    err = error_for_response(status, body, content_type, intuit_tid="t", secrets=(SECRET,))
    assert isinstance(err, QboError) and isinstance(str(err), str) and err.to_dict()["type"]
    _assert_secret_kept_out(err)
    oauth = oauth_error(status, body)
    assert isinstance(oauth, QboError) and isinstance(str(oauth), str)
    record("qbo.faults (JSON, XML, garbage)", "mapped to " + type(err).__name__)


@FUZZ
@given(planted_faults(), st.sampled_from([400, 401, 403, 404, 409, 429, 500, 503]),
       st.sampled_from([None, "application/json", "application/xml", "text/html"]))
def test_a_secret_quoted_in_a_fault_never_reaches_the_error(planted: tuple[bytes, str], status: int,
                                                            content_type: str | None) -> None:
    body, where = planted
    fault = parse_fault_body(body, content_type)
    assert fault is not None and SECRET[:12] in (getattr(fault.first, where) or "")  # the reader sees it
    err = error_for_response(status, body, content_type, intuit_tid="t", secrets=(SECRET,))
    _assert_secret_kept_out(err)
    record("qbo.faults (secret planted in Message, Detail, element or code)", "kept out of " + type(err).__name__)


@st.composite
def responses(draw: st.DrawFn) -> httpx.Response:
    status = draw(st.sampled_from([200, 200, 200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503]))
    body = draw(st.one_of(raw_bodies, xml_bodies))
    headers = draw(st.dictionaries(st.sampled_from(["content-type", "retry-after", "intuit_tid"]),
                                   st.sampled_from(["application/json", "text/xml", "-1", "1e999", "NaN",
                                                    "Wed, 21 Oct 2015 07:28:00 GMT", "garbage", "9" * 400]),
                                   max_size=3))
    return httpx.Response(status, content=body, headers=headers)


@FUZZ
@given(responses())
def test_http_client_answers_data_without_float_or_a_qbo_error(response: httpx.Response) -> None:
    """The whole read path an activity sees: any status, any body, any headers."""

    async def call() -> QboResponse:
        http = QboHttp(api_base="https://qbo.test/v3/company", token_url="https://oauth.test/token",
                       revoke_url="https://oauth.test/revoke", client_id="cid",
                       client_secret=SecretStr("client-secret-value"),
                       transport=httpx.MockTransport(lambda _: response))
        try:
            return await http.api("123", "GET", "invoice/1", token=SecretStr("access-token-value-xyz"))
        finally:
            await http.aclose()

    result = expect("qbo.http.QboHttp.api (any response)", lambda: asyncio.run(call()), (QboError,))
    if result is not None:
        assert isinstance(result, QboResponse)
        assert_no_float(result.data)


# --- regressions: what the campaign found (each escaped as an exception outside the contract) -------------

REGRESSIONS = [
    # (reader, input, allowed exception): before the fix each raised the type in the comment
    (loads, b"[" * 100_000 + b"]" * 100_000, ValueError),  # RecursionError
    (loads, b'{"Foo": NaN, "TotalAmt": 1}', ValueError),  # parsed NaN as a float, later a TypeError in dumps
    (lambda b: parse_fault_body(b, None), b'{"Fault":' + b"[" * 100_000, None),  # RecursionError
    (lambda b: error_for_response(400, b, None), b'{"Fault":{"Error":5}}', None),  # TypeError
    (lambda b: error_for_response(400, b, None), b'{"Fault":{"Error":[{"code":"1","Detail":5}]}}', None),  # TypeError
    (lambda b: oauth_error(400, b), b"[" * 100_000, None),  # RecursionError
    (lambda d: query_result(d, None), {"Invoice": [1, "x"]}, ValidationError),  # AttributeError
    (lambda d: parse_entity("Invoice", d), ["not", "an", "object"], ValidationError),  # AttributeError
    (lambda d: parse_entity("Invoice", d), {"Id": "1", "SyncToken": "abc"}, ValidationError),  # ValueError later
    (lambda d: raw_cdc_objects(d, None), [["x"]], QboServerError),  # AttributeError (in cdc_entities, its reader before)
    (lambda d: raw_cdc_objects(d, None), [{"QueryResponse": 5}], QboServerError),  # TypeError (in cdc_entities, its reader before)
    (lambda d: raw_cdc_objects(d, None), [{"QueryResponse": [{"Invoice": [{"Id": "\ud800", "SyncToken": "1"}]}]}],
     QboServerError),  # UnicodeEncodeError (seen in review): `loads` fallback, a lone surrogate written back
    (lambda d: batch.parse_response(d, {}, None), [1], QboServerError),  # AttributeError
    (lambda d: batch.parse_response(d, {}, None), {"BatchItemResponse": 5}, QboServerError),  # TypeError
]


def test_found_by_the_campaign_stay_fixed() -> None:
    for reader, value, allowed in REGRESSIONS:
        if allowed is None:
            result = reader(value)
            assert result is None or isinstance(result, Fault | QboError), (value[:40], result)
            continue
        try:
            reader(value)
        except allowed:
            continue
        raise AssertionError(f"{value!r:.60} was accepted")
