"""What sits in front of every Accounting API call, in the order Intuit's edge applies it:
counting, injected faults, the bearer token (401/403), per-realm throttling (429 XML), requestid
replay, then the operation itself in one store transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from qbo_emulator.entities.common import Ctx
from qbo_emulator.faults import QboFault, business_validation, system_fault, throttle_xml
from qbo_emulator.oauth import unauthorized_response
from qbo_emulator.state import Emulator
from qbo_emulator.wire import CLOCK

log = logging.getLogger("qbo_emulator.api")
JSON = "application/json;charset=utf-8"


@dataclass
class Outcome:
    """What an operation produced: HTTP status and body text."""

    status: int
    body: str
    media_type: str = JSON


def json_response(status: int, body: str | bytes, media_type: str = JSON) -> Response:
    return Response(body, status_code=status, media_type=media_type)


def fault_response(fault: QboFault) -> Response:
    # Error responses were plain application/json (qbo-reference §1.3)
    return Response(fault.body(), status_code=fault.status, media_type="application/json")


def throttled_response(retry_after: float | None = None) -> Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return Response(throttle_xml(), status_code=429, media_type="application/xml", headers=headers)


def include_flags(request: Request) -> set[str]:
    raw = request.query_params.get("include", "")
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


async def call(request: Request, realm: str, operation: str, entity: str | None,
               run: Callable[[Ctx], Outcome], *, write: bool = False, batch: bool = False) -> Response:
    emu: Emulator = request.app.state.emu
    stats = emu.stats.enter(realm, request.method)
    try:
        emu.stats.operation(stats, operation, entity)
        decision = emu.faults.decide(realm)
        if decision.hold_until_in_flight:
            await emu.faults.hold(realm, decision.hold_until_in_flight, emu.stats.realm(realm).in_flight)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.status:
            stats.faults_injected += 1
            if decision.status == 429:
                return throttled_response(decision.retry_after)
            return fault_response(system_fault(decision.status))
        denial = emu.tokens.check_access(request.headers.get("authorization"), realm)
        if denial:
            stats.unauthorized += 1
            return unauthorized_response(denial)
        cfg = emu.cfg(realm)
        in_flight = emu.stats.realm(realm).in_flight
        if not emu.throttle.admit(realm, CLOCK.now(), in_flight, cfg, batch=batch):
            stats.throttled += 1
            return throttled_response()
        request_id = request.query_params.get("requestid") if write else None
        if request_id and cfg.requestid_replay == "replay":
            hit = emu.store.replay(realm, request_id)
            if hit and batch and cfg.batch_requestid_reuse_6000:  # §7.5, I:ruckus/quickbooks-ruby#344
                return fault_response(business_validation(
                    "An unexpected error occurred while accessing or saving your data. Please wait a few minutes "
                    "and try again. If the problem persists, contact customer support."))
            if hit:  # §7.5: same response as the first time, byte for byte
                return json_response(hit[0], hit[2], hit[1])
        if decision.timeout is not None:
            stats.faults_injected += 1
            if not decision.apply_before_timeout:
                await asyncio.sleep(decision.timeout)
                return Response("Gateway Timeout", status_code=504, media_type="text/plain")
        outcome = execute(emu, realm, run, include_flags(request), request_id if write else None)
        if decision.timeout is not None:  # the write happened; the answer never arrives in time
            await asyncio.sleep(decision.timeout)
            return Response("Gateway Timeout", status_code=504, media_type="text/plain")
        return json_response(outcome.status, outcome.body, outcome.media_type)
    finally:
        emu.stats.realm(realm).in_flight -= 1


def execute(emu: Emulator, realm: str, run: Callable[[Ctx], Outcome], include: set[str],
            request_id: str | None) -> Outcome:
    """Run one operation atomically; faults roll back and become Fault bodies."""
    ctx = Ctx(emu.store, realm, emu.cfg(realm), CLOCK.now_ms(), include=include)
    try:
        with emu.store.tx():
            outcome = run(ctx)
            if request_id and outcome.status == 200 and emu.cfg(realm).requestid_replay == "replay":
                emu.store.remember(realm, request_id, outcome.status, outcome.media_type, outcome.body.encode())
    except QboFault as fault:
        return Outcome(fault.status, fault.body(), "application/json")
    except Exception:
        log.exception("operation failed in realm %s", realm)
        return Outcome(500, system_fault().body(), "application/json")
    emu.webhooks.publish(ctx.events)
    return outcome
