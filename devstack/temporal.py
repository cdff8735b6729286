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


def dev_server_command(host: str, port: int, ui_port: int, db_file: Path, namespace: str) -> list[str]:
    return [
        str(temporal_cli_path()), "server", "start-dev",
        "--ip", host, "--port", str(port), "--ui-port", str(ui_port),
        "--db-filename", str(db_file), "--namespace", namespace,
        "--log-level", "warn",
        *search_attribute_flags(),
    ]


__all__ = ["SEARCH_ATTRIBUTES", "dev_server_command", "search_attribute_flags"]
