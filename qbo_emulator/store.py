"""SQLite state: one connection, used only from the event loop thread, so writes are serialised.

Each entity is kept as the JSON document QBO would send (`doc`), exactly as served, so a query
page is built by joining stored strings. A few columns are copies of document fields so queries
and bookkeeping can use indexes: numeric `id`, `active`, times as epoch ms, `doc_number`,
`customer_id` and a case-folded `name_key` for duplicate-name checks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS companies (realm TEXT PRIMARY KEY, name TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entities (
    realm TEXT NOT NULL, entity TEXT NOT NULL, id INTEGER NOT NULL, doc TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    doc_number TEXT, customer_id INTEGER, name_key TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS entities_pk ON entities (realm, entity, id);
CREATE INDEX IF NOT EXISTS entities_updated ON entities (realm, entity, updated_ms, id);
CREATE INDEX IF NOT EXISTS entities_docnum ON entities (realm, entity, doc_number) WHERE doc_number IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_name ON entities (realm, name_key) WHERE name_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_customer ON entities (realm, customer_id) WHERE customer_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS tombstones (
    realm TEXT NOT NULL, entity TEXT NOT NULL, id INTEGER NOT NULL, deleted_ms INTEGER NOT NULL,
    PRIMARY KEY (realm, entity, id)
);
CREATE TABLE IF NOT EXISTS sequences (realm TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (realm, name));
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, realm TEXT NOT NULL, client_id TEXT NOT NULL,
    grant_id TEXT NOT NULL, issued_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
    hard_expires_ms INTEGER, superseded_ms INTEGER, revoked INTEGER NOT NULL DEFAULT 0, scope TEXT
);
CREATE INDEX IF NOT EXISTS tokens_realm ON tokens (realm);
CREATE INDEX IF NOT EXISTS tokens_grant ON tokens (grant_id);
CREATE TABLE IF NOT EXISTS auth_codes (
    code TEXT PRIMARY KEY, realm TEXT NOT NULL, client_id TEXT NOT NULL, redirect_uri TEXT,
    scope TEXT, expires_ms INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS replays (
    realm TEXT NOT NULL, request_id TEXT NOT NULL, status INTEGER NOT NULL, media_type TEXT NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (realm, request_id)
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

ENTITY_COLUMNS = ("realm", "entity", "id", "doc", "active", "created_ms", "updated_ms", "doc_number",
                  "customer_id", "name_key")


class Store:
    """Thin typed wrapper over the one SQLite connection."""

    def __init__(self, path: str | Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        if path is not None:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA cache_size=-200000")
        self.conn.executescript(SCHEMA)
        self._depth = 0

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[None]:
        """One atomic unit of work; nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    # --- companies ------------------------------------------------------------------------------

    def add_company(self, realm: str, name: str, created_ms: int) -> None:
        self.execute("INSERT INTO companies (realm, name, created_ms) VALUES (?, ?, ?)", (realm, name, created_ms))

    def company(self, realm: str) -> tuple[str, int] | None:
        row = self.execute("SELECT name, created_ms FROM companies WHERE realm = ?", (realm,)).fetchone()
        return (row[0], row[1]) if row else None

    def companies(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.execute("SELECT realm, name FROM companies ORDER BY created_ms")]

    # --- sequences ------------------------------------------------------------------------------

    def next_value(self, realm: str, name: str, start: int = 1) -> int:
        row = self.execute("SELECT value FROM sequences WHERE realm = ? AND name = ?", (realm, name)).fetchone()
        value = start if row is None else row[0] + 1
        self.set_sequence(realm, name, value)
        return value

    def set_sequence(self, realm: str, name: str, value: int) -> None:
        self.execute("INSERT INTO sequences (realm, name, value) VALUES (?, ?, ?) "
                     "ON CONFLICT (realm, name) DO UPDATE SET value = excluded.value", (realm, name, value))

    # --- entities -------------------------------------------------------------------------------

    def insert_many(self, rows: Iterable[tuple]) -> None:
        """Bulk insert of full rows in ENTITY_COLUMNS order (the seed generator)."""
        self.conn.executemany(f"INSERT INTO entities ({','.join(ENTITY_COLUMNS)}) VALUES "
                              f"({','.join('?' * len(ENTITY_COLUMNS))})", rows)

    def upsert(self, realm: str, entity: str, id_: int, doc: str, *, active: bool, created_ms: int,
               updated_ms: int, doc_number: str | None, customer_id: int | None, name_key: str | None) -> None:
        self.execute(
            f"INSERT INTO entities ({','.join(ENTITY_COLUMNS)}) VALUES ({','.join('?' * len(ENTITY_COLUMNS))}) "
            "ON CONFLICT (realm, entity, id) DO UPDATE SET doc = excluded.doc, active = excluded.active, "
            "updated_ms = excluded.updated_ms, doc_number = excluded.doc_number, "
            "customer_id = excluded.customer_id, name_key = excluded.name_key",
            (realm, entity, id_, doc, int(active), created_ms, updated_ms, doc_number, customer_id, name_key))

    def get(self, realm: str, entity: str, id_: int) -> tuple[str, int, int] | None:
        """(doc, created_ms, updated_ms) or None."""
        row = self.execute("SELECT doc, created_ms, updated_ms FROM entities WHERE realm = ? AND entity = ? "
                           "AND id = ?", (realm, entity, id_)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def delete(self, realm: str, entity: str, id_: int, deleted_ms: int) -> None:
        self.execute("DELETE FROM entities WHERE realm = ? AND entity = ? AND id = ?", (realm, entity, id_))
        self.execute("INSERT OR REPLACE INTO tombstones (realm, entity, id, deleted_ms) VALUES (?, ?, ?, ?)",
                     (realm, entity, id_, deleted_ms))

    def is_deleted(self, realm: str, entity: str, id_: int) -> bool:
        return self.execute("SELECT 1 FROM tombstones WHERE realm = ? AND entity = ? AND id = ?",
                            (realm, entity, id_)).fetchone() is not None

    def find_doc_number(self, realm: str, entity: str, doc_number: str) -> int | None:
        row = self.execute("SELECT id FROM entities WHERE realm = ? AND entity = ? AND doc_number = ? LIMIT 1",
                           (realm, entity, doc_number)).fetchone()
        return row[0] if row else None

    def find_name(self, realm: str, entities: Sequence[str], name_key: str) -> tuple[str, int] | None:
        marks = ",".join("?" * len(entities))
        row = self.execute(f"SELECT entity, id FROM entities WHERE realm = ? AND name_key = ? AND entity IN ({marks}) "
                           "LIMIT 1", (realm, name_key, *entities)).fetchone()
        return (row[0], row[1]) if row else None

    def customer_docs(self, realm: str, customer_id: int, entities: Sequence[str]) -> list[tuple[str, str]]:
        marks = ",".join("?" * len(entities))
        return [(r[0], r[1]) for r in self.execute(
            f"SELECT entity, doc FROM entities WHERE realm = ? AND customer_id = ? AND entity IN ({marks})",
            (realm, customer_id, *entities))]

    def docs(self, realm: str, entity: str) -> list[str]:
        return [r[0] for r in self.execute("SELECT doc FROM entities WHERE realm = ? AND entity = ? ORDER BY id",
                                           (realm, entity))]

    def changed_since(self, realm: str, entity: str, since_ms: int, limit: int) -> list[tuple[int, str]]:
        return [(r[0], r[1]) for r in self.execute(
            "SELECT updated_ms, doc FROM entities WHERE realm = ? AND entity = ? AND updated_ms >= ? "
            "ORDER BY updated_ms, id LIMIT ?", (realm, entity, since_ms, limit))]

    def deleted_since(self, realm: str, entity: str, since_ms: int, limit: int) -> list[tuple[int, int]]:
        return [(r[0], r[1]) for r in self.execute(
            "SELECT deleted_ms, id FROM tombstones WHERE realm = ? AND entity = ? AND deleted_ms >= ? "
            "ORDER BY deleted_ms, id LIMIT ?", (realm, entity, since_ms, limit))]

    # --- replay store (requestid, qbo-reference §7.5) ---------------------------------------------

    def replay(self, realm: str, request_id: str) -> tuple[int, str, bytes] | None:
        row = self.execute("SELECT status, media_type, body FROM replays WHERE realm = ? AND request_id = ?",
                           (realm, request_id)).fetchone()
        return (row[0], row[1], bytes(row[2])) if row else None

    def remember(self, realm: str, request_id: str, status: int, media_type: str, body: bytes) -> None:
        self.execute("INSERT OR REPLACE INTO replays (realm, request_id, status, media_type, body) "
                     "VALUES (?, ?, ?, ?, ?)", (realm, request_id, status, media_type, body))

    # --- key/value (persisted config) -----------------------------------------------------------

    def kv_get(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def kv_set(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))
