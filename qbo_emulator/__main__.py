"""`python -m qbo_emulator [--port 8010] [--host 127.0.0.1] [--memory | --db PATH]`."""

from __future__ import annotations

import argparse
import logging

import uvicorn

import settings
from qbo_emulator.app import create_app


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
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
