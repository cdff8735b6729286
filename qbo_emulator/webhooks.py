"""Webhook sender (qbo-reference §11): CloudEvents or legacy payloads, signed, retried.

Changes made through the API are queued; a background task sends everything queued together in
one delivery (so one delivery can mix realms, §11.3). The body of a delivery is fixed when it is
first built, so retries resend the same bytes and the same event ids. A non-2xx answer or a
timeout schedules a retry on `webhook_retry_schedule_seconds` (Intuit: 10 s, 20 s, 30 s, 5 min,
20 min, 2 h, 4 h, 6 h, then every 6 h; compressible for tests).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from qbo_emulator.entities.common import Event
from qbo_emulator.wire import CLOCK, dumps, utc_event_time

if TYPE_CHECKING:
    from qbo_emulator.state import Emulator

log = logging.getLogger("qbo_emulator.webhooks")

PAST = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Merge": "merged",
        "Emailed": "emailed"}


class WebhookConfig(BaseModel):
    """PUT /_emulator/webhooks."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    verifier_token: str | None = None  # default: QBO_WEBHOOK_VERIFIER_TOKEN from settings
    format: Literal["cloudevents", "legacy"] = "cloudevents"
    paused: bool = False  # hold events; on resume everything queued goes out in one delivery


def sign(verifier_token: str, body: bytes) -> str:
    """`intuit-signature` = base64(HMAC-SHA256(verifier token, raw body)) (§11.1)."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class QueuedEvent:
    event: Event
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def cloudevents_body(events: list[QueuedEvent]) -> bytes:
    """A JSON array of CloudEvents (fx:webhook_cloudevents_notification_blog_2025)."""
    out = []
    for q in events:
        e = q.event
        source = base64.b64encode(hashlib.sha256(f"qbo-emulator:{e.realm}".encode()).digest()).decode()
        out.append({"specversion": "1.0", "id": q.event_id, "source": f"intuit.{source}",
                    "type": f"qbo.{e.entity.lower()}.{PAST.get(e.operation, e.operation.lower())}.v1",
                    "datacontenttype": "application/json", "time": utc_event_time(e.ms),
                    "intuitentityid": e.id, "intuitaccountid": e.realm, "data": {}})
    return dumps(out).encode()


def legacy_body(events: list[QueuedEvent]) -> bytes:
    """`eventNotifications`, one element per realm (fx:webhook_legacy_notification_docs)."""
    by_realm: dict[str, list[dict]] = {}
    for q in events:
        e = q.event
        by_realm.setdefault(e.realm, []).append(
            {"name": e.entity, "id": e.id, "operation": e.operation, "lastUpdated": utc_event_time(e.ms)[:23] + "Z"})
    return dumps({"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": entities}}
                                         for realm, entities in by_realm.items()]}).encode()


@dataclass
class Delivery:
    id: str
    events: list[QueuedEvent]
    body: bytes
    content_type: str
    attempts: int = 0
    next_at: float = 0.0


class WebhookDispatcher:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.config = WebhookConfig()
        self.pending: list[QueuedEvent] = []
        self.retries: list[Delivery] = []
        self.log: deque[dict] = deque(maxlen=2000)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None

    # --- control -------------------------------------------------------------------------------

    def configure(self, config: WebhookConfig) -> None:
        self.config = config
        self._wake.set()

    def publish(self, events: list[Event]) -> None:
        if not events or not self.config.url:
            return
        self.pending.extend(QueuedEvent(e) for e in events)
        self._wake.set()

    def status(self) -> dict:
        return {**self.config.model_dump(exclude={"verifier_token"}),
                "verifier_token_set": self.config.verifier_token is not None,
                "pending_events": len(self.pending), "retrying_deliveries": len(self.retries)}

    def clear(self) -> None:
        self.pending.clear()
        self.retries.clear()
        self.log.clear()

    async def start(self) -> None:
        self._client = httpx.AsyncClient()
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client:
            await self._client.aclose()

    # --- loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            timeout = None
            if self.retries:
                timeout = max(0.0, min(d.next_at for d in self.retries) - CLOCK.now())
            self._wake.clear()
            if not (self.pending and not self.config.paused):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            try:
                await self._tick()
            except Exception:  # never let one bad delivery stop the sender
                log.exception("webhook dispatch failed")

    async def _tick(self) -> None:
        if self.config.paused or not self.config.url:
            return
        limit = self.emu.cfg().webhook_max_events_per_delivery
        while self.pending:
            batch, self.pending = self.pending[:limit], self.pending[limit:]
            await self._attempt(self._delivery(batch))
        now = CLOCK.now()
        due = [d for d in self.retries if d.next_at <= now]
        for delivery in due:
            self.retries.remove(delivery)
            await self._attempt(delivery)

    def _delivery(self, batch: list[QueuedEvent]) -> Delivery:
        if self.config.format == "legacy":
            return Delivery(str(uuid.uuid4()), batch, legacy_body(batch), "application/json")
        return Delivery(str(uuid.uuid4()), batch, cloudevents_body(batch), "application/cloudevents+json")

    async def _attempt(self, delivery: Delivery) -> None:
        assert self._client is not None
        cfg = self.emu.cfg()
        verifier = self.config.verifier_token or self.emu.verifier_token
        delivery.attempts += 1
        status: int | None = None
        error = None
        try:
            response = await self._client.post(
                self.config.url or "", content=delivery.body, timeout=cfg.webhook_timeout_seconds,
                headers={"content-type": delivery.content_type, "intuit-signature": sign(verifier, delivery.body),
                         "user-agent": "Intuit-Webhooks (qbo-emulator)"})
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self.log.append({"delivery_id": delivery.id, "attempt": delivery.attempts, "status": status, "error": error,
                         "ok": ok, "at": CLOCK.now(), "event_ids": [q.event_id for q in delivery.events],
                         "realms": sorted({q.event.realm for q in delivery.events})})
        if not ok:
            schedule = cfg.webhook_retry_schedule_seconds or [21600.0]
            delay = schedule[min(delivery.attempts - 1, len(schedule) - 1)]
            delivery.next_at = CLOCK.now() + delay
            self.retries.append(delivery)
