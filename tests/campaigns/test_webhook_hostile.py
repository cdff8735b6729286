"""Hostile deliveries to `POST /webhooks/qbo` (PRODUCT.md §6, qbo-reference §11.1).

With a valid `intuit-signature`, whatever the body (garbage, wrong types, deep nesting, 2 MiB, NUL, lone
surrogates, injection strings), the answer is 200 with the ack shape: Intuit retries any 4xx forever, so
what can't be used is logged and acknowledged. Only well-formed events are stored, verbatim, and garbage
stores and routes nothing. With a wrong or missing signature the answer is 401 and nothing is stored.
A body over the 2 MiB cap (PRODUCT.md §6; Intuit's batches are ~1 MB) is refused with 413 whatever its
signature, before it is read in full, and stores nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.body_limit import WEBHOOK_LIMIT
from qbo_emulator.webhooks import sign
from tests.api.conftest import assert_error
from tests.api.test_webhooks import CE, cloudevent, connected_partner, signals
from tests.campaigns.tally import record
from tests.helpers import eventually

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
NASTY = ["' OR 1=1 --", "'; DROP TABLE webhook_events; --", "x' AND Id > '0", "../../etc/passwd", "\x00",
         "nul\x00", "\ud800", "😀", "\u202e", "", " ", "x" * 5000, 1, -1, 1.5, 10**30, True, None, [], {}, [{}],
         {"$ne": 1}]


@pytest.fixture(autouse=True)
async def routed_when_done(app_client, db_pool):
    """Leave no event of a test unrouted (each delivery routes its own; unknown realms are closed) before
    its app stops, so later tests' routing never queues behind this campaign's events."""
    start = await db_pool.fetchval("SELECT now()")
    yield
    await eventually(lambda: _all_routed(db_pool, start), what="the campaign's webhook events routed")


async def _all_routed(db_pool, since) -> bool:
    return not await db_pool.fetchval(
        "SELECT count(*) FROM webhook_events WHERE routed_at IS NULL AND received_at >= $1", since)


async def deliver(http, verifier: str, body: bytes, content_type: str = CE, signature: str | None = None):
    headers = {"content-type": content_type, "intuit-signature": signature if signature is not None
               else sign(verifier, body)}
    return await http.post("/webhooks/qbo", content=body, headers=headers)


def encode(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()  # surrogates as \\udxxx


async def events(db_pool) -> dict[str, dict]:
    rows = await db_pool.fetch("SELECT event_id, realm_id, entity, entity_id, operation FROM webhook_events")
    return {r["event_id"]: dict(r) for r in rows}


def well_formed(row: dict) -> bool:
    return all(v is None or (isinstance(v, str) and "\x00" not in v) for v in row.values()) and \
        bool(row["event_id"]) and bool(row["realm_id"])


async def check_signed(http, verifier: str, db_pool, body: bytes, campaign: str, content_type: str = CE,
                       garbage: bool = False) -> tuple[dict, list[dict]]:
    """Deliver a signed body: 200 with the ack shape, no stored event changed; returns the ack and the rows
    it added."""
    before = await events(db_pool)
    resp = await deliver(http, verifier, body, content_type)
    assert resp.status_code == 200, (resp.status_code, resp.text[:300], body[:200])
    ack = resp.json()
    assert set(ack) == {"received", "new", "ignored"} and isinstance(ack["received"], int), ack
    after = await events(db_pool)
    assert all(after[k] == v for k, v in before.items()), "a stored event changed"
    added = [after[k] for k in after.keys() - before.keys()]
    assert len(added) == ack["new"] and all(well_formed(r) for r in added), added
    if garbage:
        assert not added and ack["received"] == 0, (ack, body[:200])
    record(campaign, "acknowledged, events stored" if added else "acknowledged, ignored")
    return ack, added


GARBAGE = [
    b"", b" ", b"null", b"0", b"-1", b"true", b'"x"', b"[]", b"{}", b"[1, 2, 3]", b'["x"]', b"[null]", b"[[]]",
    b"\xff\xfe\x00garbage", b'{"a": "\xc3\x28"}', b"<xml/>", b"NaN", b'{"eventNotifications": NaN}',
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"eventNotifications": 5}', b'{"eventNotifications": "x"}', b'{"eventNotifications": {"realmId": "1"}}',
    b'{"eventNotifications": [5, "x", null, []]}', b'{"eventNotifications": [{"realmId": "1", '
    b'"dataChangeEvent": []}]}', b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": "x"}]}',
    b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": 5}}]}',
    b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": {"name": "Invoice"}}}]}',
    b'{"eventNotifications": [{"realmId": ["1"], "dataChangeEvent": {"entities": [{"name": "Invoice"}]}}]}',
    b'{"eventNotifications": [{"realmId": {"a": 1}, "dataChangeEvent": {"entities": [{"id": "1"}]}}]}',
    b'{"eventNotifications": [{"realmId": "\\u0000", "dataChangeEvent": {"entities": [{"id": "1"}]}}]}',
    b'{"eventNotifications": [{"realmId": "\\ud800", "dataChangeEvent": {"entities": [{"id": "1"}]}}]}',
    b'[{"id": "\\u0000", "intuitaccountid": "1"}]', b'[{"id": "e", "intuitaccountid": "\\u0000"}]',
    b'[{"id": "\\ud800", "intuitaccountid": "1"}]', b'[{"id": "e1", "intuitaccountid": "\\udfff"}]',
    b'[{"id": 1, "intuitaccountid": 1}]', b'[{"id": ["e"], "intuitaccountid": {"r": 1}}]',
    b'[{"id": "' + b"e" * 10_000 + b'", "intuitaccountid": "1"}]',
    b'[{"id": "e2", "intuitaccountid": "' + b"9" * 10_000 + b'"}]',
    b'"' + b"x" * (WEBHOOK_LIMIT - 2) + b'"',  # exactly at the cap
    b"\x00" * WEBHOOK_LIMIT,
]
OVERSIZED = [b'"' + b"x" * WEBHOOK_LIMIT + b'"', b"\x00" * (5 * 1024 * 1024), b"[" * (WEBHOOK_LIMIT + 1)]


async def test_garbage_with_a_valid_signature_is_200_and_stores_nothing(app_client, verifier, db_pool) -> None:
    for body in GARBAGE:
        for content_type in [CE, "application/json"]:
            await check_signed(app_client, verifier, db_pool, body, "webhook garbage (valid signature)",
                               content_type, garbage=True)
    for content_type in ["text/plain", "application/xml", "", "multipart/form-data", "x" * 1000]:
        body = json.dumps([cloudevent("123")]).encode()
        await check_signed(app_client, verifier, db_pool, body, "webhook garbage (valid signature)", content_type,
                           garbage=True)


def storable(value: Any) -> str | None:
    """What may be stored for a field Intuit sends as text: the text itself, an integer as its digits, or
    nothing (NULL) for anything else: not text, empty, over 255 characters, NUL or a lone surrogate."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    if not text or len(text) > 255 or "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return None
    return text


async def test_hostile_fields_are_ignored_or_stored_verbatim(app_client, verifier, db_pool) -> None:
    """One nasty value at a time in every field of a CloudEvent and of a legacy notification: the event is
    stored exactly as sent (each field verbatim, or NULL when it can't be stored), or, when the value is in
    its id or realm, ignored."""
    stored_before = await events(db_pool)
    for field in ["id", "intuitaccountid", "type", "intuitentityid"]:
        for value in NASTY:
            event = cloudevent("777") | {"id": f"ev-{uuid.uuid4()}", field: value}
            ack, added = await check_signed(app_client, verifier, db_pool, encode([event]),
                                            "webhook hostile fields (valid signature)")
            expected = {"event_id": event["id"], "realm_id": "777", "entity": "Invoice", "entity_id": "1",
                        "operation": "updated"}
            if field in ("id", "intuitaccountid"):  # the event's key: text or nothing
                key = "event_id" if field == "id" else "realm_id"
                expected[key] = storable(value) if isinstance(value, str) else None
            elif field == "type":  # qbo.<entity>.<operation>.v1
                parts = str(value).split(".")
                expected["entity"] = storable(parts[1].capitalize()) if len(parts) > 2 else None
                expected["operation"] = storable(parts[2]) if len(parts) > 2 else None
            else:
                expected["entity_id"] = storable(value)
            if expected["event_id"] is None or expected["realm_id"] is None:
                assert ack == {"received": 0, "new": 0, "ignored": "1 unusable events"}, (field, value, ack)
            elif expected["event_id"] in stored_before:  # an id an earlier delivery used: a redelivery
                assert (ack["received"], ack["new"], added) == (1, 0, []), (field, value, ack)
            else:
                assert (ack["received"], ack["new"], added) == (1, 1, [expected]), (field, value, added)
                stored_before[expected["event_id"]] = expected
    for field in ["realmId", "name", "id", "operation", "lastUpdated"]:
        for value in NASTY:
            entity: dict[str, Any] = {"name": "Invoice", "id": str(uuid.uuid4()), "operation": "Update",
                                      "lastUpdated": "2026-11-27T10:00:00.000Z"}
            note: dict[str, Any] = {"realmId": "778", "dataChangeEvent": {"entities": [entity]}}
            (note if field == "realmId" else entity)[field] = value
            ack, added = await check_signed(app_client, verifier, db_pool, encode({"eventNotifications": [note]}),
                                            "webhook hostile fields (valid signature)")
            realm = storable(note["realmId"])
            if realm is None:
                assert (ack["received"], ack["new"], added) == (0, 0, []), (field, value, ack)
                continue
            assert (ack["received"], ack["new"], len(added)) == (1, 1, 1), (field, value, ack)
            row = added[0]
            assert row["event_id"].startswith("legacy-") and len(row["event_id"]) == 39, row
            assert row == {"event_id": row["event_id"], "realm_id": realm, "entity": storable(entity["name"]),
                           "entity_id": storable(entity["id"]), "operation": storable(entity["operation"])}, \
                (field, value, row)


async def test_bad_signatures_are_401_and_store_nothing(app_client, verifier, db_pool) -> None:
    body = encode([cloudevent("779")])
    good = sign(verifier, body)
    before = await events(db_pool)
    for signature in ["", " ", "AAAA", good[:-2], good + "=", good.lower(), "' OR 1=1 --", "x" * 100_000,
                      sign("wrong-verifier", body), sign(verifier, body + b" ")]:
        resp = await deliver(app_client, verifier, body, signature=signature)
        assert_error(resp, 401, "bad_signature")
        record("webhook bad signature", "rejected 401")
    for garbage in [GARBAGE[-2], GARBAGE[18], b"\xff\xfe"]:  # 5 MB, deep nesting, non-UTF-8
        resp = await deliver(app_client, verifier, garbage, signature="AAAA")
        assert_error(resp, 401, "bad_signature")
        record("webhook bad signature", "rejected 401")
    resp = await app_client.post("/webhooks/qbo", content=body, headers={"content-type": CE})  # no header at all
    assert_error(resp, 401, "bad_signature")
    record("webhook bad signature", "rejected 401")
    assert await events(db_pool) == before


async def test_garbage_routes_nothing_to_a_connected_partner(app_client, verifier, db_pool, temporal_env,
                                                             task_queue) -> None:
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    start = await signals(temporal_env, pid)
    for payload in [[{"intuitaccountid": realm}], [{"id": "", "intuitaccountid": realm}],
                    [{"id": "e\x00", "intuitaccountid": realm}], [{"id": 5, "intuitaccountid": realm}],
                    {"eventNotifications": [{"realmId": realm}]}, {"eventNotifications": [{"realmId": realm,
                    "dataChangeEvent": {"entities": [5, "x", None]}}]}, {"eventNotifications": {"realmId": realm}},
                    {"realmId": realm}, [realm], realm]:
        await check_signed(app_client, verifier, db_pool, encode(payload), "webhook garbage (valid signature)",
                           garbage=True)
    # one good event afterwards is routed: the partner's workflow was reachable all along
    ack, _ = await check_signed(app_client, verifier, db_pool, encode([cloudevent(realm)]), "webhook good event")
    assert ack["new"] == 1
    assert await eventually(lambda: _more(temporal_env, pid, start), what="the good event's signal")
    assert await signals(temporal_env, pid) == start + 1


async def _more(temporal_env, pid: str, start: int) -> bool:
    return await signals(temporal_env, pid) > start


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
                    st.sampled_from(NASTY))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=15)
CE_KEYS = ["id", "intuitaccountid", "type", "intuitentityid", "specversion", "source", "time", "data"]
LEGACY_KEYS = ["eventNotifications", "realmId", "dataChangeEvent", "entities", "name", "id", "operation",
               "lastUpdated"]


@st.composite
def deliveries(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["cloudevents", "legacy", "anything"]))
    if kind == "cloudevents":
        return draw(st.lists(st.one_of(values, st.dictionaries(st.sampled_from(CE_KEYS), values)), max_size=4))
    if kind == "legacy":
        entity = st.dictionaries(st.sampled_from(LEGACY_KEYS), values)
        note = st.fixed_dictionaries({}, optional={"realmId": values, "dataChangeEvent": st.one_of(
            values, st.fixed_dictionaries({"entities": st.one_of(values, st.lists(st.one_of(entity, values)))}))})
        return {"eventNotifications": draw(st.one_of(values, st.lists(st.one_of(note, values), max_size=3)))}
    return draw(values)


@FUZZ
@given(payload=deliveries())
async def test_fuzzed_deliveries_with_a_valid_signature(app_client, verifier, db_pool, payload) -> None:
    await check_signed(app_client, verifier, db_pool, encode(payload), "webhook fuzzed (valid signature)")


@pytest.mark.parametrize("content_type", [CE])
async def test_large_valid_deliveries_up_to_the_cap(app_client, verifier, db_pool, content_type) -> None:
    """A large but well-formed delivery within the cap is answered and its events kept: 15 events with
    128 kB of `data` each, just under 2 MiB (not thousands of small ones: routing takes 500 stored events per
    pass, and a backlog that big would delay the routing of every later test's events)."""
    many = [cloudevent("780", str(i)) | {"data": {"blob": "x" * 131_072}} for i in range(15)]
    body = encode(many)
    assert WEBHOOK_LIMIT - 256 * 1024 < len(body) <= WEBHOOK_LIMIT
    ack, _ = await check_signed(app_client, verifier, db_pool, body, "webhook large valid", content_type)
    assert ack["received"] == ack["new"] == len(many)


async def test_deliveries_over_the_cap_are_413_and_store_nothing(app_client, verifier, db_pool) -> None:
    """Validly signed or not: the size is checked while reading, before the signature can be."""
    before = await events(db_pool)
    five_mb = encode([cloudevent("781", str(i)) | {"data": {"blob": "x" * 131_072}} for i in range(40)])
    for body in [five_mb, *OVERSIZED]:
        for signature in (sign(verifier, body), "AAAA"):
            assert_error(await deliver(app_client, verifier, body, signature=signature), 413, "payload_too_large")
            record("webhook oversized", "rejected 413")
    assert await events(db_pool) == before
