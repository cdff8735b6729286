"""A separate OS process that refreshes one partner's tokens on command, for the cross-process race test.

Protocol on stdin/stdout, one JSON line per answer: `prepare` reads the current token version (as a worker
does before it decides to refresh); `go` refreshes with that version; `quit` ends.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def _run(partner_id: str) -> None:
    from qbo.client import QboApi
    from settings import load_settings
    from store.db import create_pool

    settings = load_settings()
    pool = await create_pool(settings.database_url, max_size=2)
    api = QboApi(settings, pool)
    loop = asyncio.get_running_loop()
    seen: int | None = None
    print(json.dumps({"started": True}), flush=True)
    try:
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if command == "prepare":
                seen = (await api.tokens.connection(partner_id)).token_version
                answer: dict = {"ready": seen}
            elif command == "go":
                try:
                    token = await api.tokens.refresh(partner_id, seen_version=seen)
                    answer = {"ok": True, "version": token.version}
                except Exception as exc:  # reported to the test, which fails on it
                    answer = {"ok": False, "error": type(exc).__name__, "code": getattr(exc, "code", None)}
            else:
                break
            print(json.dumps(answer), flush=True)
    finally:
        await api.aclose()
        await pool.close()


def main() -> None:
    asyncio.run(_run(sys.argv[1]))
