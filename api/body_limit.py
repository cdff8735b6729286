"""Request bodies are capped (PRODUCT.md §6): 2 MiB for Intuit's webhook (its batches are ~1 MB), 1 MiB for
everything else. Without a cap a few multi-GB POSTs exhaust the one API process that also serves the
OAuth callback and the dashboard.

A pure ASGI middleware, because the cap has to act *while* the body arrives, before any route (or
Starlette's `Request.body()`) has buffered it:
- a `Content-Length` over the cap is answered 413 before the app runs and before a byte is read;
- otherwise `receive` is wrapped and counts bytes as they stream in, so a chunked body or one whose
  `Content-Length` lies is answered 413 the moment it passes the cap; the rest is never read.
The 413 is sent by the middleware itself in the API's error shape, and anything the app tries to send
afterwards is dropped, so whatever the route or FastAPI makes of the interrupted read (FastAPI turns a
failed body read into a 400) never reaches the client.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

MiB = 1024 * 1024
DEFAULT_LIMIT = 1 * MiB
WEBHOOK_LIMIT = 2 * MiB
LIMITS = {"/webhooks/qbo": WEBHOOK_LIMIT}


class BodyTooLarge(Exception):
    """Raised from the wrapped `receive` once the body passed its cap (the 413 is already sent)."""


def _describe(limit: int) -> str:
    size = f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"
    return f"request body is larger than {size}, the limit for this endpoint; nothing was done"


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default: int = DEFAULT_LIMIT, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.limits = LIMITS if limits is None else limits

    def limit_for(self, path: str) -> int:
        return self.limits.get(path.rstrip("/") or "/", self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit, scope, receive, send)
            return

        received = 0
        started = False  # the app began its answer: too late for a 413
        responded = False  # the 413 went out: the app's own answer must not follow it

        async def limited_receive() -> Message:
            nonlocal received, responded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        await _too_large(limit, scope, receive, send)
                        responded = True
                    raise BodyTooLarge(_describe(limit))
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if responded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass  # the 413 went out, or the app had begun its answer and read on: nothing more to say


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(413, "payload_too_large", _describe(limit), {"Connection": "close"})
    await response(scope, receive, send)
