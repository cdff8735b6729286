"""Regressions for what the webhook campaign found: validly signed deliveries that answered 500 or 422 (Intuit
retries anything but a 2xx forever) instead of being acknowledged and ignored."""

from __future__ import annotations

from api.webhooks import parse_events
from qbo_emulator.webhooks import sign
from tests.api.test_webhooks import CE

FOUND = [
    b'{"eventNotifications": true}',  # TypeError: bool is not iterable (500)
    b'{"eventNotifications": NaN}',  # TypeError on the float nan (500)
    b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": []}]}',  # AttributeError (500)
    b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": [{"name": {"x": 1}}]}}]}',
    b"[" * 100_000 + b"]" * 100_000,  # RecursionError in json.loads (500)
    b'[{"id": "e\\u0000", "intuitaccountid": "1"}]',  # NUL reached PostgreSQL (500, then 422)
    b'[{"id": "e", "intuitaccountid": "\\ud800"}]',  # unpaired surrogate: asyncpg can't encode it (500)
    b'[{"id": "e", "intuitaccountid": "1", "type": "qbo.inv\\u0000.x.v1", "intuitentityid": ["1"]}]',
    b'[{"id": "' + b"e" * 10_000 + b'", "intuitaccountid": "1"}]',  # too big for the primary-key index
]


def test_unusable_fields_never_reach_the_database() -> None:
    for body in FOUND:
        events, _ = parse_events(CE, body)
        for event in events:
            assert all(v is None or (isinstance(v, str) and "\x00" not in v and len(v) <= 255) for v in event)
            assert all(v is None or v.encode() for v in event)


async def test_found_deliveries_are_acknowledged(app_client, verifier, db_pool) -> None:
    before = await db_pool.fetchval("SELECT count(*) FROM webhook_events")
    for body in FOUND:
        resp = await app_client.post("/webhooks/qbo", content=body,
                                     headers={"content-type": CE, "intuit-signature": sign(verifier, body)})
        assert resp.status_code == 200, (resp.text, body[:80])
    # stored: the legacy event whose entity name is unusable (kept without it: the realm still needs a sync)
    # and the CloudEvent whose type and entity id are unusable (likewise); nothing else
    assert await db_pool.fetchval("SELECT count(*) FROM webhook_events") == before + 2
