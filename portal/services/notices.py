"""Progress notices: drafts, publishing now or later, withdrawal, and what the public sees.

Scheduled publishing needs no job: a notice is public once its publish_at has passed.
A withdrawn notice stays public, marked withdrawn with the reason, so it never vanishes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.models import NOTICE_KINDS, Case, Notice, Project, User, Zone, notice_case
from portal.services import audit, geo
from portal.services.photos import PhotoStore, ProcessedPhoto, save_for_session

CASE_NUMBER = re.compile(r"[A-Za-z0-9-]+")


class NoticeError(ValueError):
    """Raised with a code (and details) when a notice cannot be saved or changed."""


@dataclass
class NoticeDraft:
    """What staff write: the text, its kind and what it is about."""

    title: str
    body: str
    kind: str
    project: Project | None = None
    zone: Zone | None = None  # None: the zone of the project's site, if any
    case_numbers: list[str] = field(default_factory=list)
    cover: ProcessedPhoto | None = None
    remove_cover: bool = False


@dataclass
class NoticeFilters:
    """What the public list is filtered by; empty values filter nothing."""

    q: str = ""
    project: str = ""
    kind: str = ""
    zone: str = ""
    since: datetime | None = None  # published at or after
    before: datetime | None = None  # published before


def parse_case_numbers(text: str) -> list[str]:
    """Split a list of case numbers written with spaces, commas or new lines."""
    numbers = CASE_NUMBER.findall((text or "").upper())
    return list(dict.fromkeys(numbers))


def find_cases(session: Session, numbers: list[str]) -> list[Case]:
    """Return the cases with these numbers, or raise NoticeError("cases", missing)."""
    found = session.scalars(select(Case).where(Case.number.in_(numbers))).all() if numbers else []
    missing = sorted(set(numbers) - {c.number for c in found})
    if missing:
        raise NoticeError("cases", missing)
    return sorted(found, key=lambda c: c.number)


def site_zone(session: Session, project: Project | None) -> Zone | None:
    """Return the street (or district) that holds a project's site, if any."""
    if project is None:
        return None
    zone = geo.zone_for_point(session, project.lat, project.lng)
    while zone is not None and zone.level == "grid" and zone.parent is not None:
        zone = zone.parent
    return zone


def _snapshot(notice: Notice) -> dict:
    return {
        "title": notice.title,
        "kind": notice.kind,
        "project": notice.project.code if notice.project else None,
        "zone": notice.zone.code if notice.zone else None,
        "cases": [c.number for c in notice.cases],
        "cover": notice.cover_sha256,
        "publish_at": notice.publish_at,
    }


def save(
    session: Session,
    actor: User,
    notice: Notice,
    draft: NoticeDraft,
    store: PhotoStore,
    now: datetime,
) -> Notice:
    """Create a notice or edit one not yet public (a published notice can only be withdrawn)."""
    if notice.id is not None and notice.status(now) not in ("draft", "scheduled"):
        raise NoticeError("state")
    if draft.kind not in NOTICE_KINDS:
        raise NoticeError("kind")
    creating = notice.id is None
    before = {} if creating else _snapshot(notice)
    notice.cases = find_cases(session, draft.case_numbers)
    notice.title, notice.body, notice.kind = draft.title.strip(), draft.body, draft.kind
    notice.project = draft.project
    notice.zone = draft.zone or site_zone(session, draft.project)
    if draft.cover is not None:
        save_for_session(session, store, draft.cover)
        notice.cover_sha256 = draft.cover.sha256
    elif draft.remove_cover:
        notice.cover_sha256 = None
    if creating:
        notice.author, notice.created_at = actor, now
    notice.updated_at = now
    session.add(notice)
    session.flush()
    action = "notice.create" if creating else "notice.update"
    audit.record(session, actor, action, "notice", notice.id, before, _snapshot(notice), now=now)
    return notice


def publish(
    session: Session, actor: User, notice: Notice, now: datetime, at: datetime | None = None
) -> Notice:
    """Publish a draft now, or schedule it for a later moment (a scheduled one may move)."""
    if notice.status(now) not in ("draft", "scheduled"):
        raise NoticeError("state")
    if at is not None and at <= now:
        raise NoticeError("past")
    before = {"publish_at": notice.publish_at}
    notice.publish_at = at or now
    notice.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "notice.schedule" if at else "notice.publish",
        "notice",
        notice.id,
        before,
        {"publish_at": notice.publish_at, "title": notice.title},
        now=now,
    )
    return notice


def unschedule(session: Session, actor: User, notice: Notice, now: datetime) -> Notice:
    """Turn a scheduled notice back into a draft before it goes out."""
    if notice.status(now) != "scheduled":
        raise NoticeError("state")
    before = {"publish_at": notice.publish_at}
    notice.publish_at, notice.updated_at = None, now
    session.flush()
    audit.record(
        session,
        actor,
        "notice.unschedule",
        "notice",
        notice.id,
        before,
        {"publish_at": None},
        now=now,
    )
    return notice


def withdraw(session: Session, actor: User, notice: Notice, reason: str, now: datetime) -> Notice:
    """Withdraw a published notice with a reason; it stays public, marked withdrawn."""
    if notice.status(now) != "published":
        raise NoticeError("state")
    if not reason.strip():
        raise NoticeError("reason")
    notice.withdrawn_at, notice.withdrawn_by = now, actor
    notice.withdraw_reason, notice.updated_at = reason.strip(), now
    session.flush()
    audit.record(
        session,
        actor,
        "notice.withdraw",
        "notice",
        notice.id,
        {"status": "published"},
        {"status": "withdrawn", "reason": notice.withdraw_reason},
        now=now,
    )
    return notice


def public_notices(now: datetime) -> Select:
    """Return the notices the public sees (withdrawn ones included), newest first."""
    return (
        select(Notice)
        .where(Notice.publish_at.is_not(None), Notice.publish_at <= now)
        .options(joinedload(Notice.project), joinedload(Notice.zone))
        .order_by(Notice.publish_at.desc(), Notice.id.desc())
    )


def filtered(filters: NoticeFilters, now: datetime) -> Select:
    """Return the public notices matching the list's filters, newest first."""
    query = public_notices(now)
    if filters.project:
        query = query.where(Notice.project.has(Project.code == filters.project))
    if filters.kind:
        query = query.where(Notice.kind == filters.kind)
    if filters.since:
        query = query.where(Notice.publish_at >= filters.since)
    if filters.before:
        query = query.where(Notice.publish_at < filters.before)
    if filters.zone:
        zone_ids = select(Zone.id).where(
            or_(Zone.code == filters.zone, Zone.parent.has(Zone.code == filters.zone))
        )
        grid_ids = select(Zone.id).where(Zone.parent_id.in_(zone_ids))
        query = query.where(or_(Notice.zone_id.in_(zone_ids), Notice.zone_id.in_(grid_ids)))
    if filters.q:
        escaped = filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(Notice.title.ilike(pattern, escape="\\"), Notice.body.ilike(pattern, escape="\\"))
        )
    return query


def for_project(session: Session, project: Project, now: datetime) -> list[Notice]:
    """Return a project's public notices, newest first."""
    query = public_notices(now).where(Notice.project_id == project.id)
    return list(session.scalars(query))


def related_cases(
    session: Session, project: Project, now: datetime, limit: int = 200
) -> list[Case]:
    """Return the public cases about a project: its own, and those its public notices name."""
    via_notices = (
        select(notice_case.c.case_id)
        .join(Notice, Notice.id == notice_case.c.notice_id)
        .where(Notice.project_id == project.id, Notice.publish_at <= now)
    )
    query = (
        select(Case)
        .where(
            or_(Case.project_id == project.id, Case.id.in_(via_notices)),
            Case.is_public,
        )
        .options(joinedload(Case.category))
        .order_by(Case.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def admin_list() -> Select:
    """Return every notice for the back office, most recently changed first."""
    return (
        select(Notice)
        .options(joinedload(Notice.project), joinedload(Notice.author), selectinload(Notice.cases))
        .order_by(Notice.updated_at.desc(), Notice.id.desc())
    )


def project_notice_counts(
    session: Session, project_ids: list[int], now: datetime
) -> dict[int, tuple[int, datetime]]:
    """Return, for each project that has any, its public notices' count and latest date."""
    if not project_ids:
        return {}
    rows = session.execute(
        select(Notice.project_id, func.count(Notice.id), func.max(Notice.publish_at))
        .where(
            Notice.project_id.in_(project_ids),
            Notice.publish_at.is_not(None),
            Notice.publish_at <= now,
        )
        .group_by(Notice.project_id)
    )
    return {project_id: (count, latest) for project_id, count, latest in rows}
