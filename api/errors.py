"""One error shape for every 4xx/5xx (PRODUCT.md §6): `{"error": {"code", "message"}}`.

Routes raise `ApiError`; FastAPI's own errors (validation, unknown paths, wrong methods) and anything
unexpected are rewritten into the same shape by the handlers installed with `install_error_handlers`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from store.platform_repo import RepoError

log = logging.getLogger("api")

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                 422: "validation_error", 501: "not_implemented", 503: "unavailable"}
_REPO_STATUS = {"not_found": 404, "conflict": 409, "invalid": 422}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def _describe(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {}).get("error", "")
        return error_response(400, "malformed_json", f"request body is not valid JSON: {detail}".rstrip(": "))
    return error_response(422, "validation_error", "; ".join(_describe(e) for e in errors))


async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint; see /docs"
    return error_response(exc.status_code, code, message, getattr(exc, "headers", None))


async def _api(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _repo(_: Request, exc: RepoError) -> JSONResponse:
    status = _REPO_STATUS.get(exc.kind, 422)
    return error_response(status, _STATUS_CODES[status], exc.message)


async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
    """Text PostgreSQL can't hold (NUL) in an id or query string: the caller's mistake, and nothing was written."""
    return error_response(422, "validation_error", "text must not contain NUL (\\u0000) characters")


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL refusing new connections (restarting, starting up): the request never reached it, so
    nothing was saved and the same request can simply be sent again."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(503, "unavailable", "the database is unavailable (restarting?); nothing was saved, "
                                              "try again in a moment", {"Retry-After": "1"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); see the API log")


E = TypeVar("E", bound=Exception)


def _handle(app: FastAPI, exc_type: type[E], handler: Callable[[Request, E], Awaitable[JSONResponse]]) -> None:
    """Starlette types every handler as taking any `Exception`; it calls each only with the class it was
    registered for, which this signature checks instead."""
    app.add_exception_handler(exc_type, cast(Callable[[Request, Exception], Awaitable[JSONResponse]], handler))


def install_error_handlers(app: FastAPI) -> None:
    _handle(app, RequestValidationError, _validation)
    _handle(app, StarletteHTTPException, _http)
    _handle(app, ApiError, _api)
    _handle(app, RepoError, _repo)
    _handle(app, asyncpg.CharacterNotInRepertoireError, _unstorable)
    _handle(app, asyncpg.CannotConnectNowError, _database_down)
    _handle(app, ConnectionRefusedError, _database_down)
    _handle(app, Exception, _unexpected)
