"""The declarative base, its naming convention and shared column types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import get_locale
from sqlalchemy import DateTime, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


# The calendar's edges in UTC: where a moment past them is taken to lie.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """Return a datetime as aware UTC, taking a naive one to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Year 1 east of Greenwich or 9999 west of it has no UTC time: it lies before or
        # after every stored row, as the calendar's edge does (a filter, never a stored time).
        return EARLIEST if value.year == 1 else LATEST


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """Return a moment moved by delta, stopping at the calendar's edge instead of overflowing."""
    try:
        return moment + delta
    except OverflowError:
        edge = LATEST if delta > timedelta(0) else EARLIEST
        return edge if moment.tzinfo is not None else edge.replace(tzinfo=None)


class UTCDateTime(TypeDecorator):
    """Store aware datetimes as UTC and always read them back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = as_utc(value)
        # SQLite has no time zones: keep the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


class Base(DeclarativeBase):
    """Base of every model; constraint names follow NAMING_CONVENTION."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def in_english() -> bool:
    """Tell whether the current request is served in English."""
    locale = get_locale()
    return locale is not None and locale.language == "en"


class BilingualName:
    """Mixin for rows named in Chinese and English."""

    name_zh: Any
    name_en: Any

    @property
    def name(self) -> str:
        """Return the name in the language of the current request."""
        return self.name_en if in_english() and self.name_en else self.name_zh
