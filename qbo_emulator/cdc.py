"""Change Data Capture (qbo-reference §4).

`CDCResponse` is an array with one element holding a `QueryResponse` array, one element per
requested entity (`{}` when nothing changed). Deleted objects come as tombstones. Two behaviours
nobody has pinned down are switches (§14): a `changedSince` older than 30 days (rejected by
default), and more than 1000 changed objects (`cdc_overflow`: "truncate" keeps the 1000 oldest
changes across all entities, "fault" answers 400).
"""

from __future__ import annotations

import heapq

from qbo_emulator.entities import BY_PATH, OTHER_QBO_ENTITIES
from qbo_emulator.entities.common import Ctx
from qbo_emulator.faults import QboFault, invalid_query, required_param
from qbo_emulator.gateway import Outcome
from qbo_emulator.operations import tombstone
from qbo_emulator.wire import dumps, envelope_time, parse_instant

THIRTY_DAYS_MS = 30 * 86400 * 1000
OTHER_BY_LOWER = {name.lower(): name for name in OTHER_QBO_ENTITIES}


def _entities(raw: str) -> list[tuple[str, bool]]:
    """[(canonical name, modelled)] — names are case-insensitive here (QA cdc/basic.yml: `estimate`)."""
    out = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        etype = BY_PATH.get(part.lower())
        if etype is not None and etype.name not in ("CompanyInfo", "Preferences"):
            out.append((etype.name, True))
        elif etype is not None and etype.name == "Preferences":
            out.append((etype.name, False))  # accepted, answers nothing (unverified for real CDC, docs/currency.md)
        elif part.lower() in OTHER_BY_LOWER:
            out.append((OTHER_BY_LOWER[part.lower()], False))
        else:
            raise invalid_query(f"QueryValidationError: invalid entity in CDC request: {part}")
    if not out:
        raise required_param("entities")
    return out


def run_cdc(ctx: Ctx, entities_raw: str, changed_since: str | None) -> Outcome:
    entities = _entities(entities_raw)
    if not changed_since:
        raise required_param("changedSince")
    try:
        since_ms = int(parse_instant(changed_since) * 1000)
    except ValueError:
        raise invalid_query(f"QueryValidationError: changedSince is not a date-time: {changed_since}") from None
    if ctx.cfg.cdc_strict_30_days and since_ms < ctx.now_ms - THIRTY_DAYS_MS:
        raise QboFault("4001", "Invalid query",
                       "QueryValidationError: changedSince must be within the last 30 days. Use a query on "
                       "MetaData.LastUpdatedTime for older changes.", element="changedSince")
    cap = ctx.cfg.cdc_max_objects
    changes: list[tuple[int, int, str, str]] = []  # (time, id, entity, json)
    for name, modelled in entities:
        if not modelled:
            continue
        for ms, doc in ctx.store.changed_since(ctx.realm, name, since_ms, cap + 1):
            changes.append((ms, 0, name, doc))
        for ms, id_ in ctx.store.deleted_since(ctx.realm, name, since_ms, cap + 1):
            changes.append((ms, id_, name, dumps(tombstone(name, id_, ms))))
    if len(changes) > cap:
        if ctx.cfg.cdc_overflow == "fault":
            raise QboFault("6000", "A business validation error has occurred while processing your request",
                           f"Business Validation Error: more than {cap} objects changed since {changed_since}. "
                           "Use a shorter window or fewer entities.")
        changes = heapq.nsmallest(cap, changes, key=lambda c: (c[0], c[1]))
    per_entity: dict[str, list[str]] = {name: [] for name, _ in entities}
    for _, _, name, doc in sorted(changes, key=lambda c: (c[0], c[1])):
        per_entity[name].append(doc)
    parts = []
    for name, docs in per_entity.items():
        if docs:
            parts.append(f'{{"{name}":[{",".join(docs)}],"startPosition":1,"maxResults":{len(docs)}}}')
        else:
            parts.append("{}")
    body = f'{{"CDCResponse":[{{"QueryResponse":[{",".join(parts)}]}}],"time":"{envelope_time()}"}}'
    return Outcome(200, body)
