"""A resident's case: submitting, following, rating and reopening."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from portal.models import (
    OPEN_STATES,
    ApiKey,
    BlockedSender,
    Case,
    CaseCounter,
    CaseEvent,
    CaseFollower,
    CaseRating,
    Category,
    Photo,
)
from portal.models.case import RATINGS
from portal.models.facilities import Facility
from portal.services import case_links, facilities, geo, intake, notify, routing, sla, workflow
from portal.services.photos import PhotoStore, ProcessedPhoto, save_for_session

REOPEN_WINDOW = timedelta(days=7)
# Case numbers count by the office's year, which is China's whatever the server's zone.
OFFICE_TZ = ZoneInfo("Asia/Shanghai")


class CaseError(ValueError):
    """Raised when an action is not allowed on a case in its current state."""


@dataclass
class Report:
    """What a resident (or another system) reports."""

    category: Category
    lat: float
    lng: float
    description: str
    address: str = ""
    name: str = ""
    phone: str = ""
    email: str = ""
    hide_name: bool = True
    source: str = "web"
    locale: str = "zh_Hans_CN"
    attributes: dict = field(default_factory=dict)
    api_key: ApiKey | None = None
    account_id: str = ""
    # From a blocked sender: accepted as usual, but held for review (no clocks, no mail).
    held: bool = False
    # The block-list entry that matched the sender (which makes the report held).
    held_by: BlockedSender | None = None
    # What staff must look at first (codes of CASE_FLAGS), and photo links not fetched.
    flags: list[str] = field(default_factory=list)
    media_links: list[str] = field(default_factory=list)
    device_id: str = ""
    # The facility the report names (checked by facilities.check_pick); the pin snaps to it.
    facility: Facility | None = None
    # The staff member who reported it (a sensor alarm's verifier); none for a resident.
    reporter_id: int | None = None


def hash_token(token: str) -> str:
    """Return the stored form of a tracking token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_tracking_token() -> tuple[str, str]:
    """Return a fresh private tracking token and the hash that is stored in its place."""
    token = secrets.token_urlsafe(24)
    return token, hash_token(token)


def is_tracking_token(token: str) -> bool:
    """Tell whether a string could be a tracking token at all (before hashing it)."""
    return bool(token) and len(token) <= 100


def case_year(now: datetime) -> int:
    """Return the office's year at a moment: a case reported at 01:00 Beijing time on
    1 January takes the new year's number, although it is still the old year in UTC."""
    return now.astimezone(OFFICE_TZ).year


def personal_data_flag(description: str) -> list[str]:
    """Return the flag that asks staff to look for someone's phone or identity number."""
    return ["personal_data"] if intake.personal_data(description) else []


def next_case_number(session: Session, year: int) -> str:
    """Hand out the next case number of a year, unique under concurrency."""
    bump = (
        update(CaseCounter)
        .where(CaseCounter.year == year)
        .values(last_value=CaseCounter.last_value + 1)
        .returning(CaseCounter.last_value)
        .execution_options(synchronize_session=False)
    )
    value = session.execute(bump).scalar()
    if value is None:
        dialect_insert = (
            pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        session.execute(
            dialect_insert(CaseCounter).values(year=year, last_value=0).on_conflict_do_nothing()
        )
        value = session.execute(bump).scalar_one()
    return f"{year}-{value:06d}"


def submit(
    session: Session,
    report: Report,
    photos: list[ProcessedPhoto],
    store: PhotoStore,
    now: datetime,
) -> tuple[Case, str]:
    """Open a new case from a report; return it with its private tracking token."""
    token, token_hash = new_tracking_token()
    case = Case(
        number=next_case_number(session, case_year(now)),
        category=report.category,
        zone=geo.zone_for_point(session, report.lat, report.lng),
        state="submitted",
        priority=report.category.default_priority,
        source=report.source,
        lat=report.lat,
        lng=report.lng,
        address=report.address,
        description=report.description,
        major_hazard=report.category.major_hazard,
        reporter_name=report.name,
        reporter_phone=report.phone,
        reporter_email=report.email,
        reporter_hide_name=report.hide_name,
        tracking_token_hash=token_hash,
        reporter_locale=report.locale,
        attributes=report.attributes,
        api_key=report.api_key,
        held=report.held or report.held_by is not None,
        blocked_sender_id=report.held_by.id if report.held_by else None,
        flags=list(dict.fromkeys([*report.flags, *personal_data_flag(report.description)])),
        media_links=report.media_links,
        reporter_device_id=report.device_id,
        account_id=report.account_id,
        created_at=now,
        updated_at=now,
    )
    case.suggested_department = routing.suggest(session, case)
    if not case.held:
        sla.start_clocks(session, case, now)
    session.add(case)
    event = CaseEvent(
        case=case, kind="submitted", to_state="submitted", actor_id=report.reporter_id,
        created_at=now,
    )  # fmt: skip
    session.add(event)
    attach_photos(session, case, photos, store, kind="report", now=now)
    code = case_links.set_query_code(case, token)
    session.flush()
    if report.facility is not None:
        facilities.attach(session, case, report.facility, now)
    if not case.held:
        notify.case_changed(session, case, event, query_code=code)
    return case, token


def attach_photos(
    session: Session,
    case: Case,
    photos: list[ProcessedPhoto],
    store: PhotoStore,
    kind: str,
    now: datetime,
) -> None:
    """Store processed photos and attach them to a case."""
    start = len(case.photos)
    for position, photo in enumerate(photos, start=start):
        save_for_session(session, store, photo)
        session.add(
            Photo(
                case=case,
                sha256=photo.sha256,
                kind=kind,
                position=position,
                width=photo.width,
                height=photo.height,
                created_at=now,
            )
        )


def find_by_token(session: Session, token: str) -> Case | None:
    """Return the case a private tracking token (or a mail's signed link) belongs to."""
    if not is_tracking_token(token):
        return None
    if case_links.is_signed_link(token):
        return case_links.case_of_private_token(session, token)
    return session.scalar(select(Case).where(Case.tracking_token_hash == hash_token(token)))


def nearby_open(
    session: Session, category: Category, lat: float, lng: float, radius_m: float
) -> list[tuple[Case, float]]:
    """Return open public cases of a category within a radius, nearest first."""
    min_lat, min_lng, max_lat, max_lng = geo.bbox_around(lat, lng, radius_m)
    candidates = session.scalars(
        select(Case).where(
            Case.category_id == category.id,
            Case.state.in_(OPEN_STATES),
            Case.is_public,
            Case.lat.between(min_lat, max_lat),
            Case.lng.between(min_lng, max_lng),
        )
    ).all()
    near = [(c, geo.distance_m((lat, lng), (c.lat, c.lng))) for c in candidates]
    return sorted(((c, d) for c, d in near if d <= radius_m), key=lambda pair: pair[1])


def follow(
    session: Session,
    case: Case,
    now: datetime,
    email: str = "",
    phone: str = "",
    locale: str = "zh_Hans_CN",
) -> CaseFollower:
    """Record a "me too" on an open case; return the follower (to add an e-mail later)."""
    if not case.is_open or not case.is_public:
        raise CaseError("closed")
    follower = CaseFollower(
        case_id=case.id, email=email, phone=phone, locale=locale, created_at=now
    )
    session.add(follower)
    session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(followers_count=Case.followers_count + 1)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.expire(case, ["followers_count"])
    return follower


def add_follower_email(follower: CaseFollower, email: str, locale: str) -> None:
    """Give the updates of a case to someone who said "me too" without an e-mail."""
    if follower.email:
        raise CaseError("has_email")
    follower.email, follower.locale = email, locale


def add_reporter_email(case: Case, email: str, locale: str) -> None:
    """Send the case's updates to its reporter, who left no e-mail with the report (the
    reporter's own updates: unlike a "me too", this adds no one to those affected)."""
    if case.reporter_email:
        raise CaseError("has_email")
    if not case.is_open:
        raise CaseError("closed")
    case.reporter_email, case.reporter_locale = email, locale


def rating_of_cycle(case: Case) -> CaseRating | None:
    """Return the resident's rating of the cycle the case is in, if given."""
    return next((r for r in case.ratings if r.cycle == case.cycle), None)


def can_rate(case: Case) -> bool:
    """Tell whether the resident may rate now: the work is done (已处置, or closed after
    verification) and this cycle is not rated yet; a reworked case asks again."""
    return case.state in ("resolved", "closed") and rating_of_cycle(case) is None


def rate(session: Session, case: Case, rating: str, comment: str, now: datetime) -> CaseRating:
    """Record the resident's rating of this cycle's answer, on a resolved case (it is
    fixed, before staff verify it) or a closed one. The latest rating is the one the KPIs
    count. "Not satisfied" with a closed case reopens it once, within the window."""
    if rating not in RATINGS:
        raise CaseError("rating")
    if not can_rate(case):
        raise CaseError("state")
    given = CaseRating(
        case=case,
        cycle=case.cycle,
        rating=rating,
        comment=comment,
        case_state=case.state,
        created_at=now,
    )
    session.add(given)
    case.rating = rating
    case.rated_at = now
    session.add(
        CaseEvent(
            case=case,
            kind="rated",
            body=comment,
            data={"rating": rating, "cycle": case.cycle},
            created_at=now,
        )
    )
    if rating == "dissatisfied" and case.state == "closed" and can_reopen(case, now):
        reopen(session, case, comment, now)
    return given


def can_reopen(case: Case, now: datetime) -> bool:
    """Tell whether the resident may still send the case back as not fixed: once, from the
    moment it is 已处置 until 7 days after it is closed."""
    return workflow.may_reopen_for_resident(case, now, REOPEN_WINDOW)


def reopen(session: Session, case: Case, reason: str, now: datetime) -> None:
    """Send a resolved or closed case back to its department for rework, with a new
    deadline, because its resident says it is not fixed."""
    if not can_reopen(case, now):
        raise CaseError("reopen")
    event = workflow.reopen_for_resident(session, case, reason, now)
    session.flush()
    notify.case_changed(session, case, event, to_staff=True)
