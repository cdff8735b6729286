"""Accounting API v3 routes under /v3/company/{realmId} (qbo-reference §1.2)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qbo_emulator import operations
from qbo_emulator.batch import run_batch
from qbo_emulator.cdc import run_cdc
from qbo_emulator.entities import BY_PATH, OTHER_QBO_ENTITIES
from qbo_emulator.entities.common import Ctx
from qbo_emulator.faults import QboFault, unsupported_operation
from qbo_emulator.gateway import Outcome, call
from qbo_emulator.querying import query_entity, run_query
from qbo_emulator.wire import dumps, envelope_time, loads

router = APIRouter(prefix="/v3/company/{realm}")


def entity_envelope(name: str, doc: dict | str) -> str:
    inner = doc if isinstance(doc, str) else dumps(doc)
    return f'{{"{name}":{inner},"time":"{envelope_time()}"}}'


def _unsupported(path: str):  # noqa: ANN202
    def run(ctx: Ctx) -> Outcome:
        raise unsupported_operation(path)
    return run


@router.get("/query")
async def query_get(request: Request, realm: str) -> Response:
    text = request.query_params.get("query", "")
    return await call(request, realm, "query", query_entity(text), lambda ctx: run_query(ctx, text))


@router.post("/query")
async def query_post(request: Request, realm: str) -> Response:
    """POST with `Content-Type: application/text` and the statement as the body (§3)."""
    text = (await request.body()).decode("utf-8", "replace") or request.query_params.get("query", "")
    return await call(request, realm, "query", query_entity(text), lambda ctx: run_query(ctx, text))


@router.get("/cdc")
async def cdc(request: Request, realm: str) -> Response:
    params = request.query_params
    return await call(request, realm, "cdc", None,
                      lambda ctx: run_cdc(ctx, params.get("entities", ""), params.get("changedSince")))


@router.post("/batch")
async def batch(request: Request, realm: str) -> Response:
    raw = await request.body()
    request_id = request.query_params.get("requestid")
    emu = request.app.state.emu

    def run(ctx: Ctx) -> Outcome:
        outcome, items = run_batch(ctx, raw, request_id)
        emu.stats.realm(realm).batch_items += items
        return outcome
    return await call(request, realm, "batch", None, run, write=True, batch=True)


@router.get("/preferences")
async def read_preferences(request: Request, realm: str) -> Response:
    """`GET …/preferences` has no Id (qbo-reference §15.5)."""
    etype = BY_PATH["preferences"]

    def run(ctx: Ctx) -> Outcome:
        from qbo_emulator.entities.currency import preferences

        stored = ctx.store.get(ctx.realm, "Preferences", 1)
        return Outcome(200, entity_envelope("Preferences", stored[0] if stored else preferences(ctx)))
    return await call(request, realm, "read", etype.name, run)


@router.get("/{entity}/{entity_id}")
async def read(request: Request, realm: str, entity: str, entity_id: str) -> Response:
    etype = BY_PATH.get(entity)
    path = request.url.path
    if etype is None:
        return await call(request, realm, "read", None, _unsupported(path))

    def run(ctx: Ctx) -> Outcome:
        return Outcome(200, entity_envelope(etype.name, operations.read(ctx, etype, entity_id)))
    return await call(request, realm, "read", etype.name, run)


@router.post("/{entity}")
async def write(request: Request, realm: str, entity: str) -> Response:
    """Create, full/sparse update, `operation=delete`, `operation=void`, `operation=update&include=void`."""
    etype = BY_PATH.get(entity)
    raw = await request.body()
    op_param = request.query_params.get("operation", "").lower()
    includes = {p.strip().lower() for p in request.query_params.get("include", "").split(",")}
    if etype is None:
        label = entity if entity[:1].upper() + entity[1:] in OTHER_QBO_ENTITIES else None
        return await call(request, realm, "write", label, _unsupported(request.url.path), write=True)

    def run(ctx: Ctx) -> Outcome:
        body = parse_body(raw, etype.name)
        if op_param == "delete":
            return Outcome(200, entity_envelope(etype.name, operations.delete(ctx, etype, body)))
        if op_param == "void" or (op_param == "update" and "void" in includes):
            return Outcome(200, entity_envelope(etype.name, operations.void(ctx, etype, body)))
        if op_param not in ("", "update", "create"):
            raise unsupported_operation(request.url.path)
        if "Id" in body and op_param != "create":
            return Outcome(200, entity_envelope(etype.name, operations.update(ctx, etype, body)))
        return Outcome(200, entity_envelope(etype.name, operations.create(ctx, etype, body)))

    label = {"delete": "delete", "void": "void"}.get(op_param) or (
        "void" if "void" in includes else "update" if b'"Id"' in raw else "create")
    return await call(request, realm, label, etype.name, run, write=True)


def parse_body(raw: bytes, entity: str) -> dict:
    try:
        body = loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise QboFault("2010", "Request has invalid or unsupported property",
                       f"Error parsing object: the request body is not valid JSON for {entity}") from None
    if not isinstance(body, dict):
        raise QboFault("2010", "Request has invalid or unsupported property", f"Expected a {entity} object")
    if isinstance(body.get(entity), dict) and len(body) == 1:  # some clients wrap the entity
        body = body[entity]
    return body


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
async def fallback(request: Request, realm: str, rest: str) -> Response:
    """Anything else: code "500" Unsupported Operation with HTTP 400 (fx:fault_400_unsupported_operation_500)."""
    return await call(request, realm, "unsupported", None, _unsupported(request.url.path))
