"""Public case pages kept rendered in each worker's memory, under the case's stamp.

Each request reads the case's stamp from its row (version, update time, "me too" count,
hidden): every change to a case changes it, so a change shows at once in every worker,
whichever worker made it. A kept page also ends when one of the case's clocks reaches its
deadline (the page then says "overdue"), and after PAGE_CACHE_SECONDS at most, so that a
category, department or zone an admin renames shows within that time.

Only what every visitor sees is kept: a signed-in user, a message to flash, the visitor's
own "me too" or a query string get the page rendered as usual. The CSRF token, which is
each visitor's own, is put into the kept page at each request.

A visitor without a session (no cookie: most of the public) asking for a kept page is
answered by `KeptPages` before Flask's routing and request hooks: the stamp, the page and
the security headers; a page with a form (the "me too" of an open case) also gets the
visitor's new session and CSRF token from Flask-WTF and the app's after-request steps.
Everything else, and any miss, goes on to Flask.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cachetools import TLRUCache
from flask import Flask, current_app, g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import Row, bindparam, create_engine, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import SecurityError
from werkzeug.http import parse_accept_header
from werkzeug.wsgi import get_host

from portal import assets
from portal.extensions import db
from portal.i18n import browser_locale
from portal.models import Case, CaseEvent, Photo
from portal.web import security_header_items

# Rendered where the CSRF token goes, then replaced by each visitor's token.
PLACEHOLDER = f"csrf-placeholder-{secrets.token_hex(16)}"
PLACEHOLDER_BYTES = PLACEHOLDER.encode()
EXTENSION = "portal_page_cache"
LAYER = "portal_kept_pages"
STAMP_READ = "portal.case_stamp"  # in the WSGI environ: (number, stamp) read before the app
# What says whether a kept case page is still true, read at every request: any change to
# the case row (its version), a "me too", a new event or photo. On the tables, not the
# entities: a page served from memory needs no ORM object.
_ROW, _EVENT, _PHOTO = Case.__table__.c, CaseEvent.__table__.c, Photo.__table__.c
STAMP = select(
    _ROW.id,
    or_(_ROW.hidden, _ROW.held).label("hidden"),  # held for review counts as hidden
    _ROW.version_id,
    _ROW.updated_at,
    _ROW.followers_count,
    select(func.max(_EVENT.id)).where(_EVENT.case_id == _ROW.id).scalar_subquery(),
    select(func.max(_PHOTO.id)).where(_PHOTO.case_id == _ROW.id).scalar_subquery(),
).where(_ROW.number == bindparam("number"))
CASE_PATH = re.compile(r"/cases/([0-9A-Za-z-]{1,40})")


@dataclass(frozen=True)
class Page:
    """A rendered page and when it stops being true (seconds since the epoch), with its
    compressed copies made on first demand."""

    body: bytes
    expires: float
    encoded: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def body_for(self, encoding: str | None, config: Mapping) -> bytes:
        """Return the page in an encoding (None: as is), compressing it once."""
        if encoding is None:
            return self.body
        if encoding not in self.encoded:  # two threads at once only compress it twice
            self.encoded[encoding] = assets.encode(self.body, encoding, config)
        return self.encoded[encoding]


class PageCache:
    """A bounded, thread-safe memory of rendered pages, each with its own expiry."""

    def __init__(self, max_bytes: int) -> None:
        self._pages: TLRUCache = TLRUCache(
            maxsize=max_bytes,
            ttu=lambda _key, page, _now: page.expires,
            timer=time.time,
            getsizeof=lambda page: len(page.body),
        )
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Page | None:
        """Return the page kept under a key, unless it expired."""
        with self._lock:
            return self._pages.get(key)

    def put(self, key: Hashable, page: Page) -> None:
        """Keep a page, evicting the least recently used ones to make room."""
        # A page larger than the whole cache is not kept.
        with self._lock, contextlib.suppress(ValueError):
            self._pages[key] = page

    def clear(self) -> None:
        """Forget every page."""
        with self._lock:
            self._pages.clear()


def init_app(app: Flask) -> None:
    """Give the app its page cache and the layer serving it before Flask, unless
    PAGE_CACHE_MB is 0."""
    megabytes = app.config.get("PAGE_CACHE_MB", 0)
    app.extensions[EXTENSION] = PageCache(megabytes * 1024 * 1024) if megabytes else None
    if megabytes:
        app.wsgi_app = app.extensions[LAYER] = KeptPages(app, app.wsgi_app)


def page_key(number: str, locale: str, stamp: Row) -> Hashable:
    """Return the key a case page is kept under: the case, the language and its stamp."""
    return (number, locale, *stamp[2:])


class KeptPages:
    """Answer visitors without a session from the kept case pages before Flask's views and
    request hooks; pass every other request on to the app."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        # A session or remember-me cookie may mean a signed-in user or a message to flash.
        self.cookies = (
            app.config["SESSION_COOKIE_NAME"],
            app.config.get("REMEMBER_COOKIE_NAME", "remember_token"),
        )
        with app.app_context():
            url = db.engine.url
        # Its own small pool, without the app's ping before each use and in autocommit: the
        # stamp is one round trip to PostgreSQL instead of four. A connection the database
        # dropped fails the query; the app then answers (and pings), and the pool reconnects.
        options = {
            name: value
            for name, value in app.config["SQLALCHEMY_ENGINE_OPTIONS"].items()
            if name != "pool_pre_ping"
        }
        self.engine = create_engine(url, **options, isolation_level="AUTOCOMMIT")

    def __call__(self, environ: dict, start_response: Callable) -> object:
        page = self.kept_page(environ)
        if page is None:
            return self.wsgi_app(environ, start_response)
        if PLACEHOLDER_BYTES in page.body:
            return self.with_token(page.body, environ, start_response)
        secure = environ.get("wsgi.url_scheme") == "https"
        encoding = assets.negotiate(environ.get("HTTP_ACCEPT_ENCODING", ""), len(page.body))
        body = page.body_for(encoding, self.app.config)
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Vary", "Accept-Language, Cookie, Accept-Encoding"),
            *security_header_items(self.app.config["MAP_TILE_URL"], secure),
        ]
        if encoding is not None:
            headers.append(("Content-Encoding", encoding))
        start_response("200 OK", headers)
        return [body]

    def with_token(self, body: bytes, environ: dict, start_response: Callable) -> object:
        """Answer a kept page with a form: Flask-WTF gives the new visitor a token and the
        app's after-request steps set the session cookie and the headers; no view runs."""
        with self.app.request_context(environ):
            token = generate_csrf().encode()
            page = self.app.response_class(body.replace(PLACEHOLDER_BYTES, token))
            page.vary.add("Accept-Language")  # kept per language, as the page says
            response = self.app.process_response(page)
        return response(environ, start_response)

    def stamp(self, number: str) -> Row | None:
        """Return the stamp of a case, or None when there is no such case."""
        with self.engine.connect() as connection:
            return connection.execute(STAMP, {"number": number}).first()

    def trusted(self, environ: dict) -> bool:
        """Tell whether the request names a host the portal answers for (TRUSTED_HOSTS)."""
        try:
            get_host(environ, self.app.config["TRUSTED_HOSTS"])
        except SecurityError:
            return False
        return True

    def kept_page(self, environ: dict) -> Page | None:
        """Return the kept page this request asks for, if it may be served without Flask."""
        path = CASE_PATH.fullmatch(environ.get("PATH_INFO", ""))
        cookie = environ.get("HTTP_COOKIE", "")
        if (
            path is None
            or not self.trusted(environ)  # Flask refuses it, in both languages
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("QUERY_STRING")
            or any(name in cookie for name in self.cookies)
        ):
            return None
        number = path.group(1)
        try:
            stamp = self.stamp(number)
        except SQLAlchemyError:
            return None  # the app answers, with its 503 page if the database is down
        environ[STAMP_READ] = (number, stamp)  # the app need not read it again
        if stamp is None or stamp.hidden:
            return None
        languages = parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept)
        key = page_key(number, browser_locale(languages), stamp)
        cache: PageCache | None = self.app.extensions.get(EXTENSION)
        page = cache.get(key) if cache is not None else None
        return page


def read_stamp(number: str) -> Row | None:
    """Return the stamp of a case (None when there is no such case), in one round trip to
    the database when the layer's pool can give it."""
    read = request.environ.get(STAMP_READ)
    if read is not None and read[0] == number:  # read by the layer before the app
        return read[1]
    layer: KeptPages | None = current_app.extensions.get(LAYER)
    if layer is not None:
        with contextlib.suppress(SQLAlchemyError):  # a dropped connection: the app's pings
            return layer.stamp(number)
    return db.session.connection().execute(STAMP, {"number": number}).first()


def shared_view(case_id: int) -> bool:
    """Tell whether this request sees the page every anonymous visitor sees."""
    return not (
        request.query_string
        or "_flashes" in session
        or case_id in session.get("followed", [])
        or current_user.is_authenticated
    )


def expiry(deadlines: list[datetime | None], now: datetime) -> float:
    """Return when a page stops being true: the next deadline to pass, or the longest wait."""
    limit = time.time() + current_app.config["PAGE_CACHE_SECONDS"]
    ahead = [d.timestamp() for d in deadlines if d is not None and d > now]
    return min([limit, *ahead])


def cached(key: Hashable, render: Callable[[], tuple[str, float]]) -> bytes | None:
    """Return the page kept under a key (rendering and keeping it on a miss), with this
    visitor's CSRF token in it; None when the cache is off."""
    cache: PageCache | None = current_app.extensions.get(EXTENSION)
    if cache is None:
        return None
    page = cache.get(key)
    if page is None:
        field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        setattr(g, field, PLACEHOLDER)  # what generate_csrf returns during this render
        try:
            html, expires = render()
        finally:
            delattr(g, field)
        page = Page(html.encode(), expires)
        cache.put(key, page)
    if PLACEHOLDER_BYTES not in page.body:  # no form: no token, no session to start
        return page.body
    return page.body.replace(PLACEHOLDER_BYTES, generate_csrf().encode())
