"""Open311 updates both ways: citizens' comments another system posts on a case (FixMyStreet's
POST servicerequestupdates), and the feed of what happened to each case in the extended
statuses FixMyStreet understands."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal.models import ApiKey, Case, CaseEvent
from portal.models.base import EARLIEST, LATEST
from portal.services import cases, notify
from portal.services.open311 import DEFAULT_CAP, BadArguments, paged, parse_moment

# Our state → the status FixMyStreet reads (its map_state lowercases it and turns "_" into
# spaces, which gives its own state names). Rejected cases are told apart by their ground.
EXTENDED = {
    "submitted": "open",
    "accepted": "investigating",
    "dispatched": "action_scheduled",
    "in_progress": "in_progress",
    "resolved": "fixed",
    "closed": "closed",
    "duplicate": "duplicate",
}
REJECTED = {"not_responsible": "not_councils_responsibility", "invalid": "no_further_action"}
# FixMyStreet sends OPEN (REOPEN with mark_reopen) when its reporter says "not fixed".
REOPEN_ASKS = ("open", "reopen")
EXTERNAL_ID_MAX = 255
# Control characters the sender's user cannot see and PostgreSQL cannot store (NUL): dropped.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class UnknownRequest(LookupError):
    """Raised when the service_request_id names no case the sender may update (answered 404)."""


def extended_status(state: str, ground: str | None = None) -> str:
    """Map a case state (and a rejection's ground) to FixMyStreet's extended status."""
    if state == "rejected":
        return REJECTED.get(ground or "", REJECTED["invalid"])
    return EXTENDED.get(state, "open")


@dataclass
class FeedEntry:
    """One public timeline event with the case's state after it."""

    event: CaseEvent
    state: str
    ground: str | None = None
    duplicate_of: str | None = None

    @property
    def status(self) -> str:
        """Return the extended status of the case after this event."""
        return extended_status(self.state, self.ground)


def feed(
    session: Session, start: datetime, end: datetime, page: int = 1, page_size: int = DEFAULT_CAP
) -> list[FeedEntry]:
    """Return one page of the public timeline events in a window, each with the case's state
    after it, and one event more if more follow (see open311.cut); not the residents' comments
    other systems posted."""
    query = (
        select(CaseEvent)
        .join(CaseEvent.case)
        .where(
            CaseEvent.public.is_(True),
            # The system that sent a comment has it already, and another system would show a
            # resident's words as the office's update.
            CaseEvent.kind != "comment",
            Case.is_public,
            CaseEvent.created_at >= start,
            CaseEvent.created_at <= end,
        )
        .options(selectinload(CaseEvent.case).selectinload(Case.events))
        .order_by(CaseEvent.created_at, CaseEvent.id)
    )
    events = session.scalars(paged(query, page, page_size)).all()
    entries = [_entry(event) for event in events]
    # A case merged into one since hidden from the public must not name it.
    named = {e.duplicate_of for e in entries if e.duplicate_of}
    public = set(
        session.scalars(select(Case.number).where(Case.number.in_(named), Case.is_public))
        if named
        else ()
    )
    for entry in entries:
        if entry.duplicate_of not in public:
            entry.duplicate_of = None
    return entries


def _entry(event: CaseEvent) -> FeedEntry:
    entry = FeedEntry(event, "submitted")
    for earlier in event.case.events:
        entry.state = earlier.to_state or entry.state
        if earlier.kind == "rejected":
            entry.ground = (earlier.data or {}).get("ground")
        if earlier.kind == "merged":
            entry.duplicate_of = (earlier.data or {}).get("number")
        if earlier.id == event.id:
            break
    if entry.state != "duplicate":
        entry.duplicate_of = None
    return entry


@dataclass
class Stored:
    """The timeline event an update became, and whether this post created it."""

    event: CaseEvent
    created: bool


def _text(posted: Mapping[str, str], name: str) -> str:
    return CONTROL.sub("", (posted.get(name) or "").replace("\r\n", "\n")).strip()


def _locked_case(session: Session, key: ApiKey, number: str) -> Case:
    """Return the case an update is for, locked so that updates of one case queue up."""
    case = session.scalar(
        select(Case)
        .where(Case.number == number)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    # A case hidden from the public is still the sender's own when it posted it (held).
    if case is None or not (case.is_public or case.api_key_id == key.id):
        raise UnknownRequest(number)
    return case


def _already(session: Session, key: ApiKey, update_id: str | None) -> CaseEvent | None:
    if not update_id:
        return None
    return session.scalar(
        select(CaseEvent).where(CaseEvent.api_key_id == key.id, CaseEvent.external_id == update_id)
    )


def post_update(session: Session, key: ApiKey, posted: Mapping[str, str], now: datetime) -> Stored:
    """Store a citizen's update posted by another system as a comment on the case's timeline.

    Posted twice with the same update_id, it is stored once. A status asking to reopen goes
    through the resident's own reopening rules; when those refuse, the comment still stands
    (the other system cannot undo its user's comment, and a refusal there would block every
    later update of the case). The commenter's name and contact are not kept: the other
    system keeps its users informed, so the portal needs none and can leak none.
    """
    update_id = _text(posted, "update_id") or None
    if update_id is not None and len(update_id) > EXTERNAL_ID_MAX:
        raise BadArguments(
            ["update_id: " + str(_l("At most %(n)d characters.", n=EXTERNAL_ID_MAX))]
        )
    number = _text(posted, "service_request_id")
    if not number:
        raise BadArguments(["service_request_id: " + str(_l("Required."))])
    case = _locked_case(session, key, number)
    found = _already(session, key, update_id)
    if found is not None:
        return Stored(found, created=False)
    asked = _text(posted, "status").lower()[:40]
    data: dict[str, object] = {"status": asked} if asked else {}
    sent_at = _text(posted, "updated_datetime")
    # The sender's clock is kept for reference only (ours orders the timeline), so a moment
    # it wrote wrongly costs nothing.
    with contextlib.suppress(BadArguments, OverflowError):
        moment = parse_moment("updated_datetime", sent_at) if sent_at else None
        # The calendar's edges bound filters; a moment clamped to one is no time to keep.
        if moment is not None and moment not in (EARLIEST, LATEST):
            data["updated_datetime"] = moment.isoformat()
    try:
        # Built inside the savepoint: the savepoint's own flush must not meet it half-added.
        with session.begin_nested():
            event = CaseEvent(
                case=case,
                kind="comment",
                body=_text(posted, "description"),
                api_key=key,
                external_id=update_id,
                data=data,
                created_at=now,
            )
            session.add(event)
            session.flush()
    except IntegrityError:
        # The same update_id committed by a parallel post since we looked: answer that one.
        found = _already(session, key, update_id)
        if found is None:
            raise
        return Stored(found, created=False)
    if asked in REOPEN_ASKS and case.state in ("resolved", "closed"):
        event.data = data | {"reopened": _reopen(session, key, case, event.body, now)}
    case.updated_at = now
    session.flush()
    if not case.held:
        notify.comment_received(session, case, event)
    return Stored(event, created=True)


def _reopen(session: Session, key: ApiKey, case: Case, reason: str, now: datetime) -> bool:
    """Reopen a case as its reporter would on the tracking page (already at 已处置, or within
    the window after closing, once), the comment as the reason; tell whether it was."""
    # Only the system that posted the case speaks for its reporter: FixMyStreet itself lets
    # only the reporter say "not fixed", and another system's users reported nothing here.
    if case.api_key_id != key.id or not cases.can_reopen(case, now):
        return False
    cases.reopen(session, case, reason, now)
    return True
