"""Admin endpoints for tests, benchmarks and demos (PRODUCT §7, plus health/config/reset helpers).

All JSON. Unknown realms answer 404 `{"error": "..."}`; bad bodies 422 (FastAPI/pydantic).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qbo_emulator.entities.common import Ctx, save
from qbo_emulator.entities.currency import PREFERENCES, prefs_body
from qbo_emulator.faults import business_validation
from qbo_emulator.gateway import Outcome, execute
from qbo_emulator.limits import FaultSpec
from qbo_emulator.seed import CompanySpec, create_company
from qbo_emulator.state import Emulator
from qbo_emulator.webhooks import WebhookConfig
from qbo_emulator.wire import CLOCK, dumps, loads

router = APIRouter(prefix="/_emulator")
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


def _emu(request: Request) -> Emulator:
    return request.app.state.emu


def _company(emu: Emulator, realm: str) -> None:
    if emu.store.company(realm) is None:
        raise HTTPException(404, f"no company with realm_id {realm}")


@router.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@router.post("/companies")
async def create(request: Request, spec: CompanySpec) -> dict:
    emu = _emu(request)
    if spec.realm_id and emu.store.company(spec.realm_id):
        raise HTTPException(409, f"realm_id {spec.realm_id} exists")

    def ctx_factory(realm: str) -> Ctx:
        return Ctx(emu.store, realm, emu.cfg(realm), CLOCK.now_ms())
    return create_company(emu.store, ctx_factory, spec)


@router.get("/companies")
async def companies(request: Request) -> list[dict]:
    return [{"realm_id": r, "name": n} for r, n in _emu(request).store.companies()]


@router.post("/companies/{realm}/tokens")
async def tokens(request: Request, realm: str, hard_expiry: bool = False) -> dict:
    """A token response for another client acting on the company (a bookkeeper, a test)."""
    emu = _emu(request)
    _company(emu, realm)
    include_hard = hard_expiry or request.headers.get("x-include-refresh-token-hard-expires-in", "") == "true"
    return emu.tokens.issue(realm, emu.client_id, ACCOUNTING_SCOPE, include_hard=include_hard)


class CurrencyPrefsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    multicurrency: bool = True
    home_currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


@router.put("/companies/{realm}/preferences")
async def put_currency_prefs(request: Request, realm: str, spec: CurrencyPrefsSpec) -> dict:
    """What a person does in QBO's settings: turn multicurrency on (never off again, H-mc) or, before that,
    change the home currency. Saved as an Update of Preferences, so a webhook reports it."""
    emu = _emu(request)
    _company(emu, realm)

    def run(ctx: Ctx) -> Outcome:
        old = ctx.store.get(ctx.realm, "Preferences", 1)
        current = loads(old[0]) if old else None
        prefs = (current or {"Id": "1", **prefs_body()})["CurrencyPrefs"]
        home = spec.home_currency or prefs["HomeCurrency"]["value"]
        if prefs.get("MultiCurrencyEnabled") and not spec.multicurrency:
            raise business_validation("Multicurrency can't be turned off once it is on")
        if prefs.get("MultiCurrencyEnabled") and home != prefs["HomeCurrency"]["value"]:
            raise business_validation("The home currency can't be changed once multicurrency is on")
        doc = PREFERENCES.build(ctx, prefs_body(home, spec.multicurrency), current)
        saved = save(ctx, PREFERENCES, doc, current, operation="Update")
        return Outcome(200, dumps(saved))
    outcome = execute(emu, realm, run, set(), None)
    if outcome.status != 200:
        raise HTTPException(409, loads(outcome.body))
    return loads(outcome.body)


@router.post("/companies/{realm}/revoke")
async def revoke(request: Request, realm: str) -> dict:
    emu = _emu(request)
    _company(emu, realm)
    with emu.store.tx():
        return {"revoked": emu.tokens.revoke_realm(realm)}


@router.post("/companies/{realm}/expire-access-tokens")
async def expire_access_tokens(request: Request, realm: str) -> dict:
    emu = _emu(request)
    _company(emu, realm)
    with emu.store.tx():
        return {"expired": emu.tokens.expire_access(realm)}


@router.get("/companies/{realm}/issued-tokens")
async def issued_tokens(request: Request, realm: str) -> dict:
    emu = _emu(request)
    _company(emu, realm)
    return {"realm_id": realm, "tokens": emu.tokens.issued(realm)}


@router.get("/requests")
async def requests(request: Request, realm_id: str | None = None) -> dict:
    return _emu(request).stats.report(realm_id)


@router.post("/requests/reset")
async def requests_reset(request: Request, realm_id: str | None = None,
                         body: Annotated[dict[str, Any] | None, Body()] = None) -> dict:
    realm = realm_id or (body or {}).get("realm_id")
    emu = _emu(request)
    emu.stats.reset(realm)
    emu.throttle.reset(realm)
    return {"reset": realm or "all"}


@router.put("/faults")
async def put_faults(request: Request, spec: FaultSpec) -> dict:
    emu = _emu(request)
    emu.faults.set(spec)
    return _faults(emu)


@router.get("/faults")
async def get_faults(request: Request) -> dict:
    return _faults(_emu(request))


@router.delete("/faults")
async def delete_faults(request: Request, realm_id: str | None = None) -> dict:
    emu = _emu(request)
    emu.faults.clear(realm_id, everything=realm_id is None)
    return _faults(emu)


def _faults(emu: Emulator) -> dict:
    return {"faults": [s.model_dump() for s in emu.faults.specs.values()],
            "injected": {k or "*": v for k, v in emu.faults.injected.items()}}


@router.put("/webhooks")
async def put_webhooks(request: Request, config: WebhookConfig) -> dict:
    emu = _emu(request)
    emu.webhooks.configure(config)
    emu.persist()
    return emu.webhooks.status()


@router.get("/webhooks")
async def get_webhooks(request: Request) -> dict:
    return _emu(request).webhooks.status()


@router.get("/webhooks/deliveries")
async def deliveries(request: Request) -> dict:
    return {"deliveries": list(_emu(request).webhooks.log)}


@router.delete("/webhooks/deliveries")
async def clear_deliveries(request: Request) -> dict:
    _emu(request).webhooks.clear()
    return {"cleared": True}


@router.get("/config")
async def get_config(request: Request, realm_id: str | None = None) -> dict:
    emu = _emu(request)
    return {"realm_id": realm_id, "config": emu.cfg(realm_id).model_dump(), **emu.config.snapshot()}


@router.put("/config")
async def put_config(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict:
    """Body: any EmulatorConfig fields, plus optional `realm_id` to override for one company only."""
    emu = _emu(request)
    changes = dict(body)
    realm = changes.pop("realm_id", None)
    try:
        effective = emu.config.update(changes, realm)
    except (ValidationError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    emu.persist()
    return {"realm_id": realm, "config": effective.model_dump()}


@router.post("/config/reset")
async def reset_config(request: Request, realm_id: str | None = None) -> dict:
    emu = _emu(request)
    emu.config.reset(realm_id)
    emu.persist()
    return {"realm_id": realm_id, "config": emu.cfg(realm_id).model_dump()}
