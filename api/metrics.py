"""`GET /metrics`: the API process's counters (webhooks, its QBO calls) and the fleet gauges read from
PostgreSQL at scrape time (partners by state, sync lag per partner, postings, needs_attention, backfills).

Behind the API key like every other endpoint (open only where no key is configured, i.e. the emulator
stack of `make run`): the lag gauge names every partner id, which is more than an anonymous scraper should
learn. Prometheus sends the key as a bearer token (deploy/prometheus/prometheus.yml).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.deps import Pool, require_api_key
from metrics.fleet import fleet_exposition

router = APIRouter(tags=["ops"], dependencies=[Depends(require_api_key)])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
async def metrics(pool: Pool) -> Response:
    """Prometheus text: this process's counters, then the fleet gauges (PostgreSQL, read now)."""
    body = generate_latest(REGISTRY) + await fleet_exposition(pool)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
