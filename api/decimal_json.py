"""JSON request bodies parsed with `Decimal` for every non-integer number, so an amount sent as a JSON
number (12.5) never passes through a binary float on its way to the Money validators (PRODUCT.md §3)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DecimalJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            # NaN/Infinity become Decimal too; the Money validators refuse them with a clear message.
            self._json = json.loads(body, parse_float=Decimal, parse_constant=Decimal)
        return self._json


class DecimalJsonRoute(APIRoute):
    """FastAPI's documented way to swap the request class for a router's routes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(DecimalJsonRequest(request.scope, request.receive))

        return route_handler
