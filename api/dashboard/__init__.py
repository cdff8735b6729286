"""The Integrations page (PRODUCT.md §6 `/dashboard/partners/{pid}`, issue 16): the seed's steps in a
browser, served by the API with server-side templates and plain forms (no script needed, no build step).
Included by `api.app` when `Settings.dashboard_on`."""

from fastapi import APIRouter

from api.dashboard import actions, pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(pages.guarded)

__all__ = ["actions", "router"]
