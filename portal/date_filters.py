"""Date filters of list pages, read so that a wrong one is explained next to its field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _


@dataclass
class DayRange:
    """The days a list is narrowed to, and what was wrong with the ones asked for."""

    since: date | None = None
    until: date | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            _("%(value)s is not a date: enter one as YYYY-MM-DD, for example 2026-02-28.")
            % {"value": text[:20]}
        ) from None


def day_range(since_text: str | None, until_text: str | None) -> DayRange:
    """Read a from/to pair of YYYY-MM-DD days; a wrong one is left out and explained."""
    found = DayRange()
    for name, text in (("since", since_text), ("until", until_text)):
        if text:
            try:
                setattr(found, name, _day(text.strip()))
            except ValueError as error:
                found.errors[name] = str(error)
    if found.since and found.until and found.since > found.until:
        found.errors["until"] = _("The end date is before the start date.")
        found.until = None
    return found
