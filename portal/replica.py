"""Read replicas: read-only public traffic (the map's GeoJSON, case lists, KPI, Open311 GETs,
feeds) reads from DATABASE_READ_URL, a PostgreSQL streaming replica, so that the primary
keeps its time for writes.

- Only plain SELECTs of the listed GET endpoints go to the replica; anything a request
  writes, and any SELECT … FOR UPDATE, still goes to the primary.
- Read-your-writes: any request that may write (POST, PUT, PATCH, DELETE) sets a short-lived
  cookie; while it lives, that browser reads from the primary, so nobody misses their own
  change (READ_YOUR_WRITES_SECONDS).
- A replica that is down, or whose replay lags more than REPLICA_MAX_LAG_SECONDS, is skipped
  (checked at most every REPLICA_CHECK_SECONDS per process): traffic goes to the primary.
  A replica that stops in the middle of a request has the request served again from the
  primary (portal/web.py), so visitors see no error page.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, Response, current_app, g, has_app_context, request
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import CompoundSelect, Select

EXTENSION = "portal_replica"
COOKIE = "portal_rw"
# The endpoints whose reads may come from the replica: public, read-only, shared by many.
ENDPOINTS = frozenset(
    {
        "public.index",
        "public.case_list",
        "public.cases_csv",
        "public.kpi_page",
        "public.notice_feed",
        "public.project_notice_feed",
        "api.cases_geojson",
        "api.kpi_month",
        "open311.discovery",
        "open311.services_list",
        "open311.service_definition",
        "open311.requests_list",
        "open311.request_one",
        "open311.updates",
    }
)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# How far replay is behind: 0 when it has replayed all it received (an idle primary sends
# nothing new, so an old replay time alone does not mean lag).
LAG = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() "
    "OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


class Replica:
    """One replica's engine and what the last check of it found."""

    def __init__(self, engine: Engine, max_lag: float, every: float) -> None:
        self.engine = engine
        self.max_lag = max_lag
        self.every = every
        self.checked_at = float("-inf")
        self.usable = False
        self.lag: float | None = None
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Tell whether the replica may be read from now, asking it at most every few
        seconds (one asker at a time; the others use the last answer)."""
        if time.monotonic() - self.checked_at < self.every or not self._lock.acquire(False):
            return self.usable
        try:
            with self.engine.connect() as connection:
                self.lag = float(connection.execute(LAG).scalar_one())
            self.usable = self.lag <= self.max_lag
        except SQLAlchemyError as error:
            current_app.logger.warning("read replica skipped: %s", error)
            self.lag, self.usable = None, False
        finally:
            self.checked_at = time.monotonic()
            self._lock.release()
        return self.usable

    def failed(self) -> None:
        """Skip the replica until the next check (it failed in the middle of a request)."""
        self.usable, self.checked_at = False, time.monotonic()
        self.engine.dispose()


def _plain_read(clause: Any) -> bool:
    if isinstance(clause, Select):
        return clause._for_update_arg is None
    return isinstance(clause, CompoundSelect)


WROTE = "portal_wrote"  # in Session.info: this session has written, so it reads the primary


class RoutingSession(FlaskSession):
    """The portal's session: a request allowed to read from the replica sends its plain
    SELECTs there (outside a flush); everything else goes where Flask-SQLAlchemy says."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):  # type: ignore[no-untyped-def]
        if (
            bind is None
            and clause is not None
            and has_app_context()
            and g.get("read_replica") is not None
            and not self._flushing
            and not self.info.get(WROTE)
            and _plain_read(clause)
        ):
            g.replica_used = True
            return g.read_replica.engine
        return super().get_bind(mapper, clause=clause, bind=bind, **kwargs)


@event.listens_for(RoutingSession, "after_flush")
def _wrote(session: RoutingSession, _context: object) -> None:
    # What a request wrote is read back from the primary, where it is.
    session.info[WROTE] = True


@event.listens_for(RoutingSession, "after_transaction_end")
def _ended(session: RoutingSession, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost: what it wrote is committed or gone
        session.info.pop(WROTE, None)


def choose() -> None:
    """Before a request: read from the replica if it is a listed GET of a browser that has
    not written lately, and the replica is healthy."""
    replica: Replica | None = current_app.extensions.get(EXTENSION)
    g.pop("read_replica", None)
    g.pop("replica_used", None)
    if (
        replica is None
        or request.method not in ("GET", "HEAD")
        or request.endpoint not in ENDPOINTS
        or request.cookies.get(COOKIE)
        or g.get("replica_retry")
    ):
        return
    if replica.check():
        g.read_replica = replica


def mark_writes(response: Response) -> Response:
    """After a request that may have written: read from the primary for a short while."""
    if request.method in WRITES and current_app.extensions.get(EXTENSION) is not None:
        response.set_cookie(
            COOKIE,
            "1",
            max_age=current_app.config["READ_YOUR_WRITES_SECONDS"],
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response


def retry_on_primary() -> Response | None:
    """When the replica failed during this request: skip it and serve the request again
    from the primary; None if the replica was not in use (the failure is the primary's)."""
    replica = g.pop("read_replica", None)
    if replica is None or not g.pop("replica_used", False) or g.get("replica_retry"):
        return None
    replica.failed()
    g.replica_retry = True
    from portal.extensions import db

    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session().invalidate()
    db.session.remove()
    return current_app.make_response(current_app.dispatch_request())


def init_app(app: Flask) -> None:
    """Attach the replica named by DATABASE_READ_URL, if any."""
    url = app.config.get("DATABASE_READ_URL")
    if not url:
        return
    if not url.startswith("postgresql"):
        raise ValueError("DATABASE_READ_URL must name a PostgreSQL replica")
    connect_args = {
        "connect_timeout": app.config["REPLICA_CONNECT_TIMEOUT"],
        "gssencmode": app.config["DATABASE_GSSENCMODE"],
    }
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    app.extensions[EXTENSION] = Replica(
        engine, app.config["REPLICA_MAX_LAG_SECONDS"], app.config["REPLICA_CHECK_SECONDS"]
    )
    app.before_request(choose)
    app.after_request(mark_writes)
