"""Emulator speed: seeding a large company, and serving 1000-invoice query pages at any offset.

    .venv/bin/python bench/emulator_speed.py [--invoices 100000] [--customers 10000] [--payments 30000] [--file]

Starts its own emulator process (in memory, or a SQLite file with --file), prints one JSON object.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--payments", type=int, default=30_000)
    parser.add_argument("--file", action="store_true", help="SQLite file instead of --memory")
    args = parser.parse_args()

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="emu-bench-"))
    store = ["--db", str(tmp / "bench.sqlite3")] if args.file else ["--memory"]
    env = {**os.environ, "QBO_DATA_DIR": os.environ.get("QBO_DATA_DIR", str(tmp / "devdata"))}
    proc = subprocess.Popen([sys.executable, "-m", "qbo_emulator", "--port", str(port), *store], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("emulator did not start")
            time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=600) as client:
            t0 = time.perf_counter()
            company = client.post("/_emulator/companies", json={"name": "Bench Co", "seed": {
                "customers": args.customers, "invoices": args.invoices, "payments": args.payments,
                "random_seed": 42}}).json()
            seed_seconds = time.perf_counter() - t0
            realm = company["realm_id"]
            client.put("/_emulator/config", json={"realm_id": realm, "throttle_enabled": False})
            token = client.post(f"/_emulator/companies/{realm}/tokens").json()["access_token"]
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            pages, sizes, rows = [], [], 0
            start = 1
            while True:
                q = f"SELECT * FROM Invoice ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000"
                t = time.perf_counter()
                r = client.get(f"/v3/company/{realm}/query", params={"query": q, "minorversion": 75}, headers=headers)
                pages.append(time.perf_counter() - t)
                body = r.json()["QueryResponse"]
                n = len(body.get("Invoice", []))
                if not n:
                    pages.pop()
                    break
                sizes.append(len(r.content))
                rows += n
                start += 1000
            by_updated = []
            for offset in (1, args.invoices // 2, max(args.invoices - 999, 1)):
                q = (f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2000-01-01T00:00:00-08:00' "
                     f"ORDERBY MetaData.LastUpdatedTime STARTPOSITION {offset} MAXRESULTS 1000")
                t = time.perf_counter()
                client.get(f"/v3/company/{realm}/query", params={"query": q}, headers=headers)
                by_updated.append(round(time.perf_counter() - t, 4))
        print(json.dumps({
            "name": "emulator_speed", "store": "file" if args.file else "memory", "cores": os.cpu_count(),
            "customers": company["customers"], "invoices": company["invoices"], "payments": company["payments"],
            "credit_memos": company["credit_memos"], "seed_seconds": round(seed_seconds, 2),
            "pages": len(pages), "rows_paged": rows, "page_bytes_median": int(statistics.median(sizes)),
            "page_seconds_first": round(pages[0], 4), "page_seconds_last": round(pages[-1], 4),
            "page_seconds_median": round(statistics.median(pages), 4), "page_seconds_max": round(max(pages), 4),
            "full_download_seconds": round(sum(pages), 2),
            "page_seconds_by_lastupdated_first_mid_last": by_updated,
        }))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
