"""Running a parsed query against the store and writing the QueryResponse envelope (§2, §3).

Rows are stored as the exact JSON QBO sends, so a page is the stored strings joined with commas.
Paging selects rowids through the (realm, entity, id) index first, then fetches only that page's
documents, so a page at offset 99,000 costs about the same as the first one.
"""

from __future__ import annotations

from qbo_emulator.entities import OTHER_QBO_ENTITIES, TYPES
from qbo_emulator.entities.common import Ctx
from qbo_emulator.faults import QboFault
from qbo_emulator.gateway import Outcome
from qbo_emulator.query import compile_order, compile_where, ensure_entity, page, parse
from qbo_emulator.wire import envelope_time

EMPTY = "{}"


def query_entity(text: str) -> str | None:
    """The entity a statement is about, for request counters (None if it does not parse)."""
    try:
        return parse(text).entity
    except QboFault:
        return None


def query_response(ctx: Ctx, text: str) -> str:
    """The JSON text of the `QueryResponse` object."""
    q = parse(text)
    if not ensure_entity(q, set(TYPES), OTHER_QBO_ENTITIES):
        return EMPTY
    etype = TYPES[q.entity]
    where, params = compile_where(q, etype.known, etype.has_active)
    params = [ctx.realm, q.entity, *params]
    if q.count:
        n = ctx.store.execute(f"SELECT COUNT(*) FROM entities WHERE {where}", params).fetchone()[0]
        return f'{{"totalCount":{n}}}'
    limit, offset = page(q)
    order = compile_order(q)
    rows = ctx.store.execute(
        f"SELECT doc FROM entities WHERE rowid IN (SELECT rowid FROM entities WHERE {where} ORDER BY {order} "
        f"LIMIT ? OFFSET ?) ORDER BY {order}", [*params, limit, offset]).fetchall()
    if not rows:
        return EMPTY  # fx:query_empty_page_past_end
    # maxResults is the number of rows returned (fx:query_customer_page_maxresults2)
    return (f'{{"{q.entity}":[{",".join(r[0] for r in rows)}],"startPosition":{offset + 1},'
            f'"maxResults":{len(rows)}}}')


def run_query(ctx: Ctx, text: str) -> Outcome:
    return Outcome(200, f'{{"QueryResponse":{query_response(ctx, text)},"time":"{envelope_time()}"}}')
