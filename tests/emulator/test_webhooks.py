"""Webhooks (qbo-reference §11): signed CloudEvents and legacy bodies, retries with stable ids on a
compressed schedule, several realms in one delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest

from qbo_emulator.webhooks import sign
from tests.emulator.conftest import make_company
from tests.emulator.receiver import Receiver
from tests.emulator.support import Api, fixture, shape_diff
from tests.helpers import wait_until

VERIFIER = "verify_me"


def test_signature_matches_reference_vector() -> None:
    # qbo-reference §11.1 (PQ tests/unit/test_client.py)
    assert sign("verify_me", b'{"stuff":"5"}') == "nfPLN16u3vMvv08ghDs+dOkLuirEVDy5wAeG/lmM2OA="


def valid(headers: dict[str, str], body: bytes) -> bool:
    digest = hmac.new(VERIFIER.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64decode(headers["intuit-signature"]), digest)


@pytest.fixture
def hook(admin: httpx.Client) -> Iterator[tuple[Receiver, httpx.Client]]:
    """A receiver wired as the (global) webhook endpoint; the schedule is compressed for the test."""
    receiver = Receiver()
    admin.put("/_emulator/webhooks", json={"url": receiver.url, "verifier_token": VERIFIER})
    admin.put("/_emulator/config", json={"webhook_retry_schedule_seconds": [0.2, 0.4]})
    admin.delete("/_emulator/webhooks/deliveries")
    yield receiver, admin
    admin.put("/_emulator/webhooks", json={})
    # The emulator logs an attempt only once the receiver's answer is back in: one still on its way when
    # the log is cleared below would land in the next test's log (seen as a stray (1, 200) first entry).
    wait_until(lambda: len(deliveries_logged(admin)) >= len(receiver.deliveries()), timeout=20,
               what="the emulator to log every attempt the receiver saw")
    admin.put("/_emulator/config", json={"webhook_retry_schedule_seconds":
                                         [10, 20, 30, 300, 1200, 7200, 14400, 21600]})
    admin.delete("/_emulator/webhooks/deliveries")
    receiver.close()


def deliveries_logged(admin: httpx.Client) -> list[dict]:
    """The emulator's delivery log: one entry per attempt, appended once the attempt's answer is in."""
    return admin.get("/_emulator/webhooks/deliveries").json()["deliveries"]


def events(receiver: Receiver) -> list[dict]:
    return [e for _, body in receiver.deliveries() for e in json.loads(body)]


def test_cloudevents_signed(hook: tuple[Receiver, httpx.Client], company: Api) -> None:
    receiver, _ = hook
    customer = company.customer("Hooked")
    wait_until(lambda: any(e["intuitentityid"] == customer["Id"] for e in events(receiver)), timeout=20,
               what="webhook for the new customer")
    headers, body = receiver.deliveries()[0]
    assert headers["content-type"] == "application/cloudevents+json" and valid(headers, body)
    [event] = [e for e in json.loads(body) if e["intuitentityid"] == customer["Id"]]
    assert not shape_diff(fixture("webhook_cloudevents_notification_blog_2025.json")[0], event)
    assert (event["type"], event["intuitaccountid"]) == ("qbo.customer.created.v1", company.realm)
    invoice = company.invoice(customer["Id"])
    company.post("/invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="void")
    wait_until(lambda: any(e["type"] == "qbo.invoice.voided.v1" for e in events(receiver)), timeout=20,
               what="void event")


def test_retries_keep_body_and_ids(hook: tuple[Receiver, httpx.Client], company: Api) -> None:
    receiver, admin = hook
    receiver.statuses = [500, 503]
    customer = company.customer("Retried")

    # The receiver records a body before it answers, and the emulator logs an attempt only once the
    # answer is in: wait for the emulator's third entry, not only the receiver's third body.
    wait_until(lambda: len(deliveries_logged(admin)) >= 3, timeout=20, what="two retries, logged")
    bodies = [body for _, body in receiver.deliveries()[:3]]
    assert bodies[0] == bodies[1] == bodies[2]
    assert all(valid(h, b) for h, b in receiver.deliveries())
    assert json.loads(bodies[0])[0]["intuitentityid"] == customer["Id"]
    log = deliveries_logged(admin)
    assert [(d["attempt"], d["status"]) for d in log[:3]] == [(1, 500), (2, 503), (3, 200)]
    assert len({d["delivery_id"] for d in log[:3]}) == 1


def test_several_realms_in_one_delivery(hook: tuple[Receiver, httpx.Client], company: Api,
                                        emulator_url: str) -> None:
    receiver, admin = hook
    other = make_company(admin, emulator_url)
    admin.put("/_emulator/webhooks", json={"url": receiver.url, "verifier_token": VERIFIER, "paused": True})
    company.customer("Realm A")
    other.customer("Realm B")
    admin.put("/_emulator/webhooks", json={"url": receiver.url, "verifier_token": VERIFIER, "paused": False})
    wait_until(lambda: receiver.deliveries(), timeout=20, what="delivery")
    realms = {e["intuitaccountid"] for e in json.loads(receiver.deliveries()[0][1])}
    assert realms == {company.realm, other.realm}
    other.close()


def test_legacy_format(hook: tuple[Receiver, httpx.Client], company: Api) -> None:
    receiver, admin = hook
    admin.put("/_emulator/webhooks", json={"url": receiver.url, "verifier_token": VERIFIER, "format": "legacy"})
    customer = company.customer("Legacy")
    wait_until(lambda: receiver.deliveries(), timeout=20, what="legacy delivery")
    headers, body = receiver.deliveries()[0]
    payload = json.loads(body)
    assert valid(headers, body) and headers["content-type"] == "application/json"
    assert not shape_diff(fixture("webhook_legacy_notification_docs.json"), payload)
    entity = payload["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
    assert (entity["name"], entity["id"], entity["operation"]) == ("Customer", customer["Id"], "Create")
