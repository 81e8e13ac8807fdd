"""Jobs that every app node may start but that must be done once: PostgreSQL advisory locks.

`run_once(name)` is for periodic jobs (the SLA sweep, the monthly spot-check draw, the
hotspot computation, one MQTT listener partition): the first node to ask holds the lock for
the whole job, on a connection of its own; the others are told at once that it is taken and
skip their turn. A lock held by a node that dies is released by PostgreSQL with its
connection, so the next turn runs.

`hold(session, name)` takes a lock inside a transaction, until its commit or rollback;
`shared=True` lets many holders in at once and keeps out only an exclusive one (uploads
share the photo store, its orphan sweep takes it alone).

Queues (the outbox) need no lock of their own: each worker takes its rows with
`SELECT … FOR UPDATE SKIP LOCKED`.

On SQLite there are no advisory locks and none are needed: an SQLite database lives on one
machine's disk, so a portal on SQLite runs on one node, and its writers are serialised by
SQLite's own database lock. There `run_once` always runs and `hold` does nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, scoped_session


def lock_key(name: str) -> int:
    """Return the 64-bit advisory lock key of a job name (stable across nodes and versions)."""
    digest = hashlib.sha256(f"portal:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _is_postgresql(bind: Engine | Session | scoped_session) -> bool:
    engine = bind if isinstance(bind, Engine) else bind.get_bind()
    return engine.dialect.name == "postgresql"


@contextmanager
def run_once(engine: Engine, name: str) -> Iterator[bool]:
    """Try to become the one node doing job `name`; yield whether this one is (then the lock
    is held until the block ends). Never waits for another node's turn to end."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    with engine.connect() as connection:
        got = bool(connection.scalar(select(func.pg_try_advisory_lock(key))))
        connection.commit()  # the lock is the session's: it outlives this transaction
        try:
            yield got
        finally:
            if got:
                connection.scalar(select(func.pg_advisory_unlock(key)))
                connection.commit()


def hold(session: Session | scoped_session, name: str, *, shared: bool = False) -> None:
    """Wait for, then hold, lock `name` until the session's transaction ends."""
    if not _is_postgresql(session):
        return
    take = func.pg_advisory_xact_lock_shared if shared else func.pg_advisory_xact_lock
    session.execute(select(take(lock_key(name))))


def try_hold(session: Session | scoped_session, name: str) -> bool:
    """Take lock `name` for the session's transaction if no one holds it; tell whether it
    was taken (True on SQLite)."""
    if not _is_postgresql(session):
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(lock_key(name)))))
