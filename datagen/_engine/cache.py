"""The on-disk response cache: what makes a rerun after a crash resume without paying twice.

Every answered request is committed to SQLite (WAL mode) the moment it arrives, keyed by a hash of the
backend, its endpoint identity, the model and the full request. A rerun finds those answers and sends only
the requests that had none; a changed parameter makes a new key and leaves the others valid. Nothing
secret is stored: requests never contain API keys.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from datagen._datamodel.config import converter
from datagen._engine.llm import Request, Response

SCHEMA_VERSION = 1
FILE_NAME = "responses.sqlite"


def request_key(backend: str, identity: str, model: str, request: Request) -> str:
    """The cache key of ``request`` to ``model`` through ``backend`` at ``identity`` (e.g. a base URL)."""
    blob = json.dumps([SCHEMA_VERSION, backend, identity, model, request.digest()], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _use_wal(db: sqlite3.Connection, patience: float = 10.0) -> None:
    """Put the database in WAL mode, waiting while other connections hold it.

    WAL mode is stored in the file, so only the connection that creates it switches. The switch needs
    the file to itself and SQLite answers "database is locked" at once, without its busy handler, when
    a concurrent run sharing the cache (the tuner's parallel evaluations, two processes) has it open:
    so the mode is read first and the switch retried with a short back-off.
    """
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class ResponseCache:
    """A SQLite table of responses by request key; safe to share between threads of one process."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        _use_wal(self._db)
        self._db.execute("PRAGMA synchronous=NORMAL")  # a committed answer survives a killed process
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, backend TEXT NOT NULL, "
            "model TEXT NOT NULL, response TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, "
            "completion_tokens INTEGER NOT NULL, cost_usd REAL, created_at REAL NOT NULL)"
        )
        # Batches submitted but not yet collected: a rerun after a crash collects them, not pays again.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, backend TEXT NOT NULL, "
            "identity TEXT NOT NULL, model TEXT NOT NULL, submitted_at REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS batch_items (batch_id TEXT NOT NULL, key TEXT NOT NULL, "
            "request TEXT NOT NULL, PRIMARY KEY (batch_id, key))"
        )

    def get(self, key: str) -> Response | None:
        """The cached response for ``key``, if any."""
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return converter.structure(json.loads(row[0]), Response)

    def put(self, key: str, backend: str, model: str, response: Response) -> None:
        """Store ``response`` under ``key``, committed at once."""
        blob = json.dumps(converter.unstructure(response), ensure_ascii=False, separators=(",", ":"))
        usage = response.usage
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    backend,
                    model,
                    blob,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.cost_usd,
                    time.time(),
                ),
            )

    def record_batch(
        self, batch_id: str, backend: str, identity: str, model: str, items: dict[str, Request]
    ) -> None:
        """Remember a submitted batch and the requests in it, committed at once."""
        rows = [
            (batch_id, key, json.dumps(req.payload(), ensure_ascii=False, separators=(",", ":")))
            for key, req in items.items()
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?)",
                (batch_id, backend, identity, model, time.time()),
            )
            self._db.executemany("INSERT OR REPLACE INTO batch_items VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def open_batches(self, backend: str, identity: str, model: str) -> dict[str, dict[str, Request]]:
        """Batches submitted (by this or an earlier process) and not yet collected: id -> key -> request."""
        with self._lock:
            rows = self._db.execute(
                "SELECT b.batch_id, i.key, i.request FROM batches b JOIN batch_items i USING (batch_id) "
                "WHERE b.backend = ? AND b.identity = ? AND b.model = ?",
                (backend, identity, model),
            ).fetchall()
        out: dict[str, dict[str, Request]] = {}
        for batch_id, key, payload in rows:
            out.setdefault(batch_id, {})[key] = converter.structure(json.loads(payload), Request)
        return out

    def close_batch(self, batch_id: str) -> None:
        """Forget a batch whose results are collected."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM batch_items WHERE batch_id = ?", (batch_id,))
            self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
            self._db.execute("COMMIT")

    def stats(self) -> dict[str, Any]:
        """Entries, tokens and cost by backend and model, and the file size."""
        with self._lock:
            rows = self._db.execute(
                "SELECT backend, model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), "
                "SUM(cost_usd), COUNT(cost_usd) FROM responses "
                "GROUP BY backend, model ORDER BY backend, model"
            ).fetchall()
        groups = [
            {
                "backend": b,
                "model": m,
                "entries": n,
                "prompt_tokens": pt or 0,
                "completion_tokens": ct or 0,
                "cost_usd": (cost or 0.0) if priced == n else None,
            }
            for b, m, n, pt, ct, cost, priced in rows
        ]
        size = sum(p.stat().st_size for p in self.path.parent.glob(FILE_NAME + "*") if p.is_file())
        return {
            "path": str(self.path),
            "entries": sum(g["entries"] for g in groups),
            "bytes": size,
            "groups": groups,
        }

    def clear(self, backend: str | None = None, model: str | None = None) -> int:
        """Delete entries (all, or one backend's, or one model's); returns how many."""
        clauses, params = [], []
        for column, value in (("backend", backend), ("model", model)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            deleted = self._db.execute(f"DELETE FROM responses{where}", params).rowcount
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
