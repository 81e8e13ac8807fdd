"""The saved views of the back-office queue: what each one holds, how many cases each holds
for a staff member, and where each role starts (what needs that role now)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta

import redis
from flask import current_app, g, has_request_context
from flask import session as browser_session
from sqlalchemy import ColumnElement, and_, event, func, literal_column, or_, select, true
from sqlalchemy import case as when
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal.models import OPEN_STATES, Case, User, utcnow
from portal.models.case import NEEDS_ME_STATES
from portal.services.case_search import next_due

log = logging.getLogger(__name__)

# How close a deadline is when the queue calls it due soon (即将超期).
DUE_SOON = timedelta(hours=24)
WORKING = ("dispatched", "in_progress")
REWORKED = ("accepted", *WORKING)

# Each view in the order the navigation shows it; "todo" is every role's first screen.
VIEWS = (
    "todo",
    "submitted",
    "to_dispatch",
    "in_progress",
    "waiting",
    "to_verify",
    "due_soon",
    "overdue",
    "mine",
    "reopened",
    "extensions",
)
# Views that hold nothing a role could see or act on are not offered to it.
HIDDEN = {
    "handler": {"submitted", "to_dispatch"},
    "dispatcher": {"mine"},
    "admin": {"mine"},
}


def views_for(user: User) -> list[str]:
    """Return the views a staff member is offered, first the default one."""
    return [v for v in VIEWS if v not in HIDDEN.get(user.role, set())]


def todo(user: User) -> ColumnElement[bool]:
    """Return what needs this role now: for dispatchers the cases to accept, to dispatch, to
    verify and extensions to decide; for a department the cases it works."""
    if user.role in ("dispatcher", "admin"):
        # Literals, in the order of the partial index's condition (models/case.py
        # NEEDS_ME_SQL), so that both databases may read that index.
        states = [literal_column(f"'{s}'") for s in NEEDS_ME_STATES]
        return or_(Case.state.in_(states), Case.extension_minutes.is_not(None))
    if user.role == "supervisor":
        return Case.state == "resolved"
    return and_(
        Case.state.in_(WORKING), or_(Case.paused_at.is_(None), Case.attention_at.is_not(None))
    )


def condition(view: str, user: User, now: datetime) -> ColumnElement[bool]:
    """Return the SQL test of a case being in a view, for this staff member at this moment."""
    due = next_due()
    running = and_(Case.paused_at.is_(None), due.is_not(None))
    conditions = {
        "todo": lambda: todo(user),
        "submitted": lambda: Case.state == "submitted",
        "to_dispatch": lambda: Case.state == "accepted",
        "in_progress": lambda: and_(Case.state.in_(WORKING), Case.paused_at.is_(None)),
        "waiting": lambda: and_(Case.state.in_(OPEN_STATES), Case.paused_at.is_not(None)),
        "to_verify": lambda: Case.state == "resolved",
        "due_soon": lambda: and_(running, due >= now, due < now + DUE_SOON),
        # `due < now` holds no NULL: without "IS NOT NULL" beside it, SQLite reads the
        # queue's index in order (with it, it sorted every overdue case).
        "overdue": lambda: and_(Case.paused_at.is_(None), due < now),
        "mine": lambda: and_(Case.assignee_id == user.id, Case.state.in_(OPEN_STATES)),
        # A literal 1, not a parameter: so that the planner may use the partial index.
        "reopened": lambda: and_(Case.cycle > literal_column("1"), Case.state.in_(REWORKED)),
        "extensions": lambda: and_(Case.extension_minutes.is_not(None), Case.state.in_(WORKING)),
    }
    return conditions[view]() if view in conditions else true()


def scope(user: User) -> ColumnElement[bool]:
    """Return which cases a staff member's queue holds at all (held ones wait for review)."""
    visible = Case.held.is_(False)
    if user.role == "handler":
        return and_(visible, Case.department_id == user.department_id)
    return visible


def counts(session: Session, user: User, now: datetime) -> dict[str, int]:
    """Return how many cases each of the user's views holds, in one query."""
    views = views_for(user)
    columns = [
        func.coalesce(func.sum(when((condition(v, user, now), 1), else_=0)), 0).label(v)
        for v in views
    ]
    # Every view holds open cases only: the state index keeps this off the closed majority.
    open_cases = and_(scope(user), Case.state.in_(OPEN_STATES))
    row = session.execute(select(*columns).select_from(Case).where(open_cases)).one()
    return dict(zip(views, (int(n) for n in row), strict=True))


# --- the navigation's counts, cached briefly ---------------------------------------------
# Every back-office page shows the counts of the user's views; counting the open cases
# takes seconds at a million cases. The counts are kept per scope (role, department, user
# for "mine"), in Redis when REDIS_URL is set (shared by the workers), else in the process.
# They are fresh for COUNTS_TTL seconds and while no commit wrote a case (a commit bumps a
# generation). Older counts, up to COUNTS_STALE seconds, are still shown while a
# background thread counts again, so no page waits for the count; with nothing to show,
# the page counts itself. Tests count inline (QUEUE_COUNTS_BACKGROUND, off when testing).
# A staff member's own write is never hidden from them: the commit puts the generation it
# made into their signed session (which travels to whichever worker serves the next page),
# and counts older than that are counted again inline for them, not shown stale; everyone
# else keeps reading the cache.
COUNTS_TTL = 30
COUNTS_STALE = 600
GENERATION_KEY = "queue-counts:generation"
DIRTY = "queue_counts_dirty"
SEEN = "queue_counts_generation"  # in the staff member's session: the generation they wrote
_local: dict[str, dict] = {}
_local_generation = [0]
_refreshing: set[str] = set()
_refreshing_lock = threading.Lock()
refresh_threads: list[threading.Thread] = []  # the running refreshes (tests join them)


def _scope_key(user: User) -> str:
    return f"queue-counts:{user.role}:{user.department_id or ''}:{user.id}"


def _client():
    from portal.services import outbox

    return outbox._redis()


def _read(key: str) -> tuple[int, dict | None]:
    """Return the current generation and the stored entry of a scope (or None)."""
    client = _client()
    if client is None:
        return _local_generation[0], _local.get(key)
    generation, stored = client.mget([GENERATION_KEY, key])
    return int(generation or 0), json.loads(stored) if stored else None


def _write(key: str, generation: int, fresh: dict[str, int]) -> None:
    entry = {"generation": generation, "at": time.time(), "counts": fresh}
    client = _client()
    if client is None:
        _local[key] = entry
    else:
        client.set(key, json.dumps(entry), ex=COUNTS_STALE)


def _refresh_later(key: str, user_id: int, generation: int) -> None:
    """Count a scope again in a background thread, unless one already does."""
    with _refreshing_lock:
        if key in _refreshing:
            return
        _refreshing.add(key)
    app = current_app._get_current_object()

    def refresh() -> None:
        from portal.extensions import db

        try:
            with app.app_context():
                user = db.session.get(User, user_id)
                if user is not None:
                    _write(key, generation, counts(db.session, user, utcnow()))
                db.session.remove()
        except (SQLAlchemyError, redis.RedisError) as error:
            log.warning("queue counts not refreshed: %s", error)
        finally:
            with _refreshing_lock:
                _refreshing.discard(key)

    thread = threading.Thread(target=refresh, name="queue-counts", daemon=True)
    refresh_threads[:] = [t for t in refresh_threads if t.is_alive()] + [thread]
    thread.start()


def _written_generation() -> int | None:
    """Return the generation the signed-in staff member's own last write made, if any."""
    if not has_request_context():
        return None
    return browser_session.get(SEEN)


def cached_counts(session: Session, user: User, now: datetime) -> dict[str, int]:
    """Return `counts()` as recently counted (see above); count inline only with nothing kept,
    or when the counts kept are older than this user's own last write."""
    key = _scope_key(user)
    try:
        generation, entry = _read(key)
    except redis.RedisError as error:
        log.warning("queue counts not cached: %s", error)
        return counts(session, user, now)
    written = _written_generation()
    if entry is not None:
        age = time.time() - entry["at"]
        own_write_missing = written is not None and entry["generation"] < written
        if entry["generation"] == generation and age < COUNTS_TTL and not own_write_missing:
            return entry["counts"]
        background = current_app.config.get("QUEUE_COUNTS_BACKGROUND", not current_app.testing)
        if background and age < COUNTS_STALE and not own_write_missing:
            _refresh_later(key, user.id, generation)
            return entry["counts"]
    fresh = counts(session, user, now)
    if written is not None and generation >= written:
        browser_session.pop(SEEN, None)  # counted after the write: the cache holds it now
    try:
        _write(key, generation, fresh)
    except redis.RedisError as error:
        log.warning("queue counts not cached: %s", error)
    return fresh


def forget_counts() -> int | None:
    """Make the next `cached_counts()` count again (a case was written); return the new
    generation (None when Redis did not answer)."""
    _local_generation[0] += 1
    client = _client()
    if client is None:
        return _local_generation[0]
    try:
        return int(client.incr(GENERATION_KEY))
    except redis.RedisError as error:
        log.warning("queue counts generation not bumped: %s", error)
        return None


def _remember_own_write(generation: int | None) -> None:
    """Note in a staff member's session the generation their write made (see above)."""
    if generation is None or not has_request_context():
        return
    # The user the request already loaded: after a commit the session may not query.
    user = g.get("_login_user")
    if user is not None and user.is_authenticated and getattr(user, "is_staff", False):
        browser_session[SEEN] = max(generation, browser_session.get(SEEN, 0))


@event.listens_for(Session, "after_flush")
def _note_cases(session: Session, _context: object) -> None:
    if any(isinstance(o, Case) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info[DIRTY] = True


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    if session.info.pop(DIRTY, False):
        _remember_own_write(forget_counts())


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(DIRTY, None)
