"""How the dev stack runs Temporal's CLI dev server: UI on 8233, search attributes registered at launch,
history in a file so a restart keeps the running workflows."""

from __future__ import annotations

from pathlib import Path

from devstack.binaries import temporal_cli_path
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

_TYPE_NAMES = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "TEXT": "Text", "INT": "Int", "BOOL": "Bool"}


def search_attribute_flags() -> list[str]:
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        type_name = _TYPE_NAMES[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]
        flags += ["--search-attribute", f"{key.name}={type_name}"]
    return flags


# SQLite in write-ahead-log mode, synced at checkpoints rather than at every commit. The dev server's
# default for a file is a rollback journal synced at every commit: a journal file written, synced and
# deleted for each of the several transactions of every workflow task, which cost it half of its CPU per
# idle sync cycle (84 → 42 ms, `bench.idle_profile`; README "Fleet size per worker"). What it trades: a
# commit survives the process being killed (Ctrl-C, SIGKILL, a crash) as before, but a power cut or an OS
# crash may roll back the last commits (never corrupt the file): running workflows then redo their last
# steps, whose activities are retry-safe. SQLite documents both (https://www.sqlite.org/wal.html,
# https://www.sqlite.org/pragma.html#pragma_synchronous).
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def dev_server_command(host: str, port: int, ui_port: int, db_file: Path, namespace: str) -> list[str]:
    return [
        str(temporal_cli_path()), "server", "start-dev",
        "--ip", host, "--port", str(port), "--ui-port", str(ui_port),
        "--db-filename", str(db_file), "--namespace", namespace,
        *(flag for pragma in SQLITE_PRAGMAS for flag in ("--sqlite-pragma", pragma)),
        "--log-level", "warn",
        *search_attribute_flags(),
    ]


__all__ = ["SEARCH_ATTRIBUTES", "SQLITE_PRAGMAS", "dev_server_command", "search_attribute_flags"]
