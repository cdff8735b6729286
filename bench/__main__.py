"""`make bench [SIZE=small|full]`: every benchmark of PRODUCT.md §8 against a real local stack.

    .venv/bin/python -m bench [--size small|full|huge] [--only NAME ...]

`huge` exists for the backfill only (500,000 invoices: is the worker's memory flat in the rows?); the other
benchmarks are skipped at that size.

Each benchmark starts its own stack (devstack.LocalStack on free ports), prints one JSON object and writes
bench/results/<name>.json. Nothing here asserts a time: these are measurements, not tests.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import time

BENCHMARKS = ("backfill", "idle_cycle", "webhook_latency", "webhook_load", "webhook_ladder", "posting", "fleet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full", "huge"), default="full")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s | %(message)s", stream=sys.stderr)
    failed = []
    t0 = time.monotonic()
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        if args.size not in module.SIZES:
            print(f"# {name}: no {args.size} size, skipped", file=sys.stderr, flush=True)
            continue
        started = time.monotonic()
        try:
            asyncio.run(module.run(args.size))
        except Exception as exc:
            logging.getLogger("bench").exception("%s failed: %s", name, exc)
            failed.append(name)
        print(f"# {name}: {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    print(
        f"# all: {time.monotonic() - t0:.0f}s" + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        file=sys.stderr,
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
