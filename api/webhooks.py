"""Intuit webhooks (PRODUCT.md §6, qbo-reference §11): `POST /webhooks/qbo`.

The raw body's `intuit-signature` (base64 HMAC-SHA256 with the verifier token) is checked in constant time
before anything else: a wrong or missing one is 401 and nothing is stored or signalled. A validly signed
delivery is never answered with a 4xx (Intuit would retry it forever): what can't be used is logged and
acknowledged. Events are stored in `webhook_events` (deduped by event id) before the answer, and routed by
realm to the partner's `sync_now` after it, in a task, so a slow or down Temporal never delays the 200 and
never loses an event: unrouted events are retried by a loop in the API's lifespan.

Signals are coalesced: a partner whose signal is outstanding (claimed by a pass, taken by Temporal, its
cycle's `fetch_changes` not started yet) is not signalled again, its events are closed `signalled` on the
strength of that signal (store/sync_requests.py says why nothing is lost). Under load this is one signal
per partner per cycle instead of one per event: each signal is a workflow task and history events.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from metrics.service import WEBHOOK_DELIVERIES, WEBHOOK_EVENTS, WEBHOOK_SIGNALS
from starter import partners as partner_workflows
from store import platform_repo as repo
from store import sync_requests

log = logging.getLogger("api.webhooks")
router = APIRouter(tags=["webhooks"])
ROUTE_TIMEOUT = 5.0
SIGNALS_IN_FLIGHT = 32  # sync_now signals sent side by side by one routing pass
# A claimed signal older than this is not outstanding any more (a pass that died between claiming and
# signalling, or a workflow that takes no cycle, e.g. waiting in needs_reconnect): it is claimed again.
SIGNAL_OUTSTANDING_FOR = timedelta(minutes=1)
_SIGNAL_OUTCOME = {"signalled": "sent", "no_workflow": "no_workflow", None: "failed"}  # qbo_webhook_signals_total
_CONTENT_TYPES = ("application/json", "application/cloudevents+json")

Event = tuple[str, str, str | None, str | None, str | None]  # event_id, realm, entity, entity_id, operation


class WebhookAck(BaseModel):
    received: int
    new: int
    ignored: str | None = None


def signature_ok(verifier: str, body: bytes, given: str | None) -> bool:
    if not given:
        return False
    expected = base64.b64encode(hmac.new(verifier.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, given.strip().encode())


_MAX_TEXT = 255  # realm, event and entity ids are short; a longer value is not Intuit's


def _text(value: Any) -> str | None:
    """A field as text PostgreSQL can store, or None when it is unusable: a container, a boolean, empty,
    overlong, or holding NUL or an unpaired surrogate (both valid JSON escapes). Numbers become text."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT or "\x00" in value:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return value


def _cloudevent(item: dict[str, Any]) -> Event | None:
    realm, event_id = item.get("intuitaccountid"), item.get("id")
    if not isinstance(realm, str) or not isinstance(event_id, str) or not _text(realm) or not _text(event_id):
        return None
    parts = str(item.get("type", "")).split(".")  # qbo.invoice.updated.v1
    entity = _text(parts[1].capitalize()) if len(parts) > 2 else None
    operation = _text(parts[2]) if len(parts) > 2 else None
    return event_id, realm, entity, _text(item.get("intuitentityid")), operation


def _legacy(body: dict[str, Any]) -> list[Event]:
    out: list[Event] = []
    notes = body.get("eventNotifications")
    for note in notes if isinstance(notes, list) else []:
        if not isinstance(note, dict):
            continue
        realm = _text(note.get("realmId"))
        change = note.get("dataChangeEvent")
        entities = change.get("entities") if isinstance(change, dict) else None
        for ent in entities if isinstance(entities, list) else []:
            if not realm or not isinstance(ent, dict):
                continue
            key = f"{realm}|{ent.get('name')}|{ent.get('id')}|{ent.get('operation')}|{ent.get('lastUpdated')}"
            event_id = "legacy-" + hashlib.sha256(key.encode(errors="surrogatepass")).hexdigest()[:32]
            out.append((event_id, realm, _text(ent.get("name")), _text(ent.get("id")), _text(ent.get("operation"))))
    return out


def parse_events(content_type: str, body: bytes) -> tuple[list[Event], str | None]:
    """The events of a delivery, and why (part of) it was ignored, if it was."""
    if content_type.split(";")[0].strip().lower() not in _CONTENT_TYPES:
        return [], f"unsupported content type {content_type!r}"
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return [], "body is not JSON (or nested too deeply)"
    if isinstance(data, list):
        events = [e for e in (_cloudevent(i) for i in data if isinstance(i, dict)) if e is not None]
        return events, None if len(events) == len(data) else f"{len(data) - len(events)} unusable events"
    if isinstance(data, dict) and "eventNotifications" in data:
        return _legacy(data), None
    return [], "neither CloudEvents nor a legacy eventNotifications payload"


@router.post("/webhooks/qbo", response_model=WebhookAck, responses={401: {"description": "bad signature"}})
async def receive(request: Request) -> WebhookAck:
    body = await request.body()
    verifier = request.app.state.settings.qbo_webhook_verifier_token.get_secret_value()
    if not signature_ok(verifier, body, request.headers.get("intuit-signature")):
        WEBHOOK_DELIVERIES.labels("bad_signature").inc()
        raise ApiError(401, "bad_signature", "intuit-signature does not match this body")
    events, ignored = parse_events(request.headers.get("content-type", ""), body)
    if ignored:
        log.warning("webhook delivery partly or wholly ignored: %s", ignored)
    new = await repo.record_webhook_events(request.app.state.pool, _unique(events))
    WEBHOOK_DELIVERIES.labels("ignored" if ignored else "accepted").inc()
    WEBHOOK_EVENTS.labels("new").inc(len(new))
    WEBHOOK_EVENTS.labels("duplicate").inc(len(events) - len(new))
    if new:
        spawn_routing(request.app)
    return WebhookAck(received=len(events), new=len(new), ignored=ignored)


def _unique(events: list[Event]) -> list[Event]:
    seen: dict[str, Event] = {}
    for e in events:
        seen.setdefault(e[0], e)
    return list(seen.values())


def spawn_routing(app: FastAPI) -> None:
    tasks: set[asyncio.Task[int]] = app.state.webhook_tasks
    task = asyncio.create_task(route_pending(app))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def route_pending(app: FastAPI, batch: int = 500) -> int:
    """Signal `sync_now` once per partner with unrouted events (none while one is outstanding: see
    `_signal_partners`); unknown realms are logged and closed.
    Events whose partner couldn't be reached stay unrouted for the next try. Works through the backlog
    batch by batch, as long as each batch closes something (a huge delivery must not wait for the
    retry loop's next turns)."""
    routed = 0
    while True:
        fetched, closed = await _route_batch(app, batch)
        routed += closed
        if fetched < batch or closed == 0:
            return routed


async def _route_batch(app: FastAPI, batch: int) -> tuple[int, int]:
    """Routes the oldest unrouted events that no other pass of this process is routing. Passes run side by
    side (one per delivery); without the claim each would read the same unrouted rows and signal the same
    partners again: under load (bench/webhook_load.py) two to three `sync_now` signals per event, each one
    more workflow task for the partner's workflow and the Temporal server."""
    pool, claimed = app.state.pool, app.state.webhook_claimed
    rows = [r for r in await repo.unrouted_webhook_events(pool, batch) if r["event_id"] not in claimed]
    ids = [r["event_id"] for r in rows]
    claimed.update(ids)
    try:
        return len(rows), await _route_rows(app, rows)
    finally:
        claimed.difference_update(ids)


async def _route_rows(app: FastAPI, rows: list[asyncpg.Record]) -> int:
    pool = app.state.pool
    by_partner: dict[str, list[str]] = {}
    unknown: list[str] = []
    for row in rows:
        (by_partner.setdefault(row["partner_id"], []) if row["partner_id"] else unknown).append(row["event_id"])
    if unknown:
        log.info("webhook events for unknown realms ignored: %d", len(unknown))
        await repo.mark_webhook_events(pool, unknown, "unknown_realm")
        WEBHOOK_EVENTS.labels("unknown_realm").inc(len(unknown))
    results = await _signal_partners(app, list(by_partner))
    closed_by: dict[str, list[str]] = {}
    for pid, ids in by_partner.items():
        if (result := results.get(pid)) is not None:
            closed_by.setdefault(result, []).extend(ids)
    for result, ids in closed_by.items():
        await repo.mark_webhook_events(pool, ids, result)
        WEBHOOK_EVENTS.labels(result).inc(len(ids))
    return len(unknown) + sum(len(ids) for ids in closed_by.values())


async def _signal_partners(app: FastAPI, pids: list[str]) -> dict[str, str | None]:
    """Each partner's route result: `signalled`, `no_workflow`, or None (keep the events for a retry).
    Only partners whose signal this pass claims are signalled; a partner with a delivered signal whose cycle
    has not started is `signalled` already; one whose signal another pass of this process is sending gets
    that signal's outcome; one another process is signalling is left for a retry."""
    pool, in_flight = app.state.pool, app.state.signals_in_flight
    claims, done = await sync_requests.claim(pool, pids, SIGNAL_OUTSTANDING_FOR)
    # No await between the claim and these lines: a claim of this process always has its future in
    # `in_flight`, which other passes wait on.
    sending = {pid: in_flight[pid] for pid in pids if pid not in claims and pid not in done and pid in in_flight}
    mine: dict[str, asyncio.Future[str | None]] = {}
    for pid in claims:
        mine[pid] = in_flight[pid] = asyncio.get_running_loop().create_future()
    # The partners side by side: one whose workflow is slow to answer must not hold up the others' signals.
    gate = asyncio.Semaphore(SIGNALS_IN_FLIGHT)

    async def one(pid: str) -> str | None:
        if pid in mine:
            async with gate:
                return await _signal_claimed(app, pid, claims[pid], mine[pid])
        if pid in sending:
            return await asyncio.shield(sending[pid])
        return "signalled" if pid in done else None

    try:
        results = dict(zip(pids, await asyncio.gather(*(one(pid) for pid in pids)), strict=True))
        for pid, result in results.items():
            if pid in mine:
                WEBHOOK_SIGNALS.labels(_SIGNAL_OUTCOME[result]).inc()
            elif result == "signalled":
                WEBHOOK_SIGNALS.labels("coalesced").inc()
        return results
    finally:
        for pid, outcome in mine.items():  # a pass that failed or was cancelled: its waiters retry later
            if in_flight.get(pid) is outcome:
                del in_flight[pid]
            if not outcome.done():
                outcome.set_result(None)


async def _signal_claimed(app: FastAPI, pid: str, claim: datetime, outcome: asyncio.Future[str | None]) -> str | None:
    """Send the claimed signal; record that Temporal took it, or release the claim so the next event (or the
    retry loop) signals again. Passes of this process waiting on the same partner share the outcome."""
    in_flight: dict[str, asyncio.Future[str | None]] = app.state.signals_in_flight
    result = await _signal(app, pid)
    if result == "signalled":
        await sync_requests.delivered(app.state.pool, pid, claim)
    else:  # no workflow, or not known to have reached it: nothing would clear the claim
        await sync_requests.release(app.state.pool, pid, claim)
    if in_flight.get(pid) is outcome:
        del in_flight[pid]
    outcome.set_result(result)
    return result


async def _signal(app: FastAPI, pid: str) -> str | None:
    try:
        await asyncio.wait_for(partner_workflows.sync_now(app.state.temporal, pid), ROUTE_TIMEOUT)
        return "signalled"
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return "no_workflow"
        log.warning("sync_now for %s failed (%s); will retry", pid, err.status)
    except Exception as exc:
        log.warning("sync_now for %s failed (%s); will retry", pid, type(exc).__name__)
    return None
