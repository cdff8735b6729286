"""`python -m qbo_emulator [--port 8010] [--host 127.0.0.1] [--memory | --db PATH]`."""

from __future__ import annotations

import argparse
import logging

import uvicorn

import settings
from qbo_emulator.app import create_app

# Idle keep-alive connections stay open longer than any client keeps them (httpx drops its own after 5 s):
# with equal timeouts a client could send on a connection the server was closing that very moment and get
# a ReadError for a request never read (seen in a loaded test run, tests/qbo/test_emulator_limits.py).
KEEP_ALIVE_SECONDS = 75


def server_config(app: object, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,  # type: ignore[arg-type]
                          timeout_keep_alive=KEEP_ALIVE_SECONDS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m qbo_emulator", description="QuickBooks Online emulator")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--memory", action="store_true", help="keep state in memory only")
    parser.add_argument("--db", default=str(settings.DATA_DIR / "emulator.sqlite3"), help="SQLite file")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    app = create_app(None if args.memory else args.db)
    uvicorn.Server(server_config(app, args.host, args.port, args.log_level)).run()


if __name__ == "__main__":
    main()
