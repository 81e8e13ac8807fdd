"""Public case pages kept rendered in each worker's memory, under the case's stamp.

Each request reads the case's stamp from its row (version, update time, "me too" count,
hidden): every change to a case changes it, so a change shows at once in every worker,
whichever worker made it. A kept page also ends when one of the case's clocks reaches its
deadline (the page then says "overdue"), and after PAGE_CACHE_SECONDS at most, so that a
category, department or zone an admin renames shows within that time.

Only what every visitor sees is kept: a signed-in user, a message to flash, the visitor's
own "me too" or a query string get the page rendered as usual. The CSRF token, which is
each visitor's own, is put into the kept page at each request.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from cachetools import TLRUCache
from flask import Flask, current_app, g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

# Rendered where the CSRF token goes, then replaced by each visitor's token.
PLACEHOLDER = f"csrf-placeholder-{secrets.token_hex(16)}"
EXTENSION = "portal_page_cache"


@dataclass(frozen=True)
class Page:
    """A rendered page and when it stops being true (seconds since the epoch)."""

    body: bytes
    expires: float


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
    """Give the app its page cache, unless PAGE_CACHE_MB is 0."""
    megabytes = app.config.get("PAGE_CACHE_MB", 0)
    app.extensions[EXTENSION] = PageCache(megabytes * 1024 * 1024) if megabytes else None


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
    if PLACEHOLDER.encode() not in page.body:  # no form: no token, no session to start
        return page.body
    return page.body.replace(PLACEHOLDER.encode(), generate_csrf().encode())
