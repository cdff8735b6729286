"""CPU per object of the backfill's decision (`activities.backfill.decide_new`), on pages built in memory by the
emulator's own seeding code (the same JSON a query page carries), timed with `time.process_time`:

    .venv/bin/python -m bench.decide_micro [--invoices 1000] [--customers 100] [--rounds 5] [--cprofile]

Prints µs of CPU per object for each stage of `decide_new` (JSON → dict, facts, decision) and for the
whole, best of `--rounds`. A measurement for the benchmark's notes, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from collections.abc import Callable
from typing import Any

import activities.backfill as backfill_module
from qbo.jsonio import loads
from qbo.pages import RawObject, _raw_object
from qbo_emulator.seed import Generator, SeedSpec
from rules import entities as synced


class _Rows:
    """What `Generator` writes to, kept in memory: the rows' JSON text by entity."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def insert_many(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows.extend(rows)

    def set_sequence(self, *_: Any) -> None:
        pass


def pages(invoices: int, customers: int, seed: int = 42) -> dict[str, list[RawObject]]:
    """The seeded company's objects as a backfill reads them (RawObject: head read, JSON kept)."""
    rows = _Rows()
    accounts = {"UndepositedFunds": "4", "AccountsReceivable": "3"}
    Generator(rows, "1", SeedSpec(customers=customers, invoices=invoices, random_seed=seed),  # type: ignore[arg-type]
              accounts, int(time.time() * 1000)).run()
    out: dict[str, list[RawObject]] = {"Customer": [], "Invoice": []}
    for row in rows.rows:
        if row[1] in out:
            out[row[1]].append(_raw_object(row[3].encode(), None))
    return out


def _cpu(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _reader(spec: synced.SyncedEntity) -> Callable[[str], Any]:
    """What `decide_new` reads an object's JSON with (`loads` whole, before it read only the parser's keys)."""
    read = getattr(backfill_module, "READ", None)
    return read[spec.name] if read is not None else loads


def measure(objects: dict[str, list[RawObject]], rounds: int) -> dict[str, dict[str, float]]:
    """µs of CPU per object: whole `decide_new`, and its stages as differences of cumulative runs (JSON;
    JSON + facts; JSON + facts + decision), each over the page object by object as `decide_new` goes, so
    no stage keeps a page of intermediates alive that the others do not (the collector would charge it).
    The best of `rounds` each: on a shared machine the neighbours only ever add."""
    result: dict[str, dict[str, float]] = {}
    for name, items in objects.items():
        spec, n = synced.BY_NAME[name], len(items)
        if not n:
            continue
        read = _reader(spec)
        json_only = _cpu(lambda: [read(o.json) for o in items], rounds)  # noqa: B023
        facts = _cpu(lambda: [spec.parse(read(o.json), "USD") for o in items], rounds)  # noqa: B023
        decided = _cpu(lambda: [spec.decide(None, spec.parse(read(o.json), "USD")) for o in items], rounds)  # noqa: B023
        whole = _cpu(lambda: backfill_module.decide_new(spec, items, "USD"), rounds)  # noqa: B023
        stages = {"decide_new": whole, "json": json_only, "facts": facts - json_only, "decision": decided - facts}
        result[name] = {k: round(v / n * 1e6, 1) for k, v in stages.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.decide_micro", description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()
    objects = pages(args.invoices, args.customers)
    for name, stages in measure(objects, args.rounds).items():
        print(f"{name:9s} " + "  ".join(f"{k} {v} µs" for k, v in stages.items()))
    if args.cprofile:
        profiler = cProfile.Profile()
        profiler.enable()
        backfill_module.decide_new(synced.INVOICE, objects["Invoice"], "USD")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
