"""Open311 GeoReport v2, read side: services and cases as the standard names them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from portal.models import (
    LIST_DATATYPES,
    ApiKey,
    Case,
    CaseEvent,
    Category,
    CategoryAttribute,
    Photo,
)
from portal.models.base import as_utc, shifted
from portal.services import moderation

SPAN = timedelta(days=90)
DEFAULT_CAP = 1000
STATUSES = ("open", "closed")
NOTE_KINDS = ("public_reply", "resolved", "closed", "rejected")
# The attribute that tells clients a service requires a photo (see photo_attribute).
PHOTO_CODE = "photo"
# The attribute naming the facility a request is about (路灯不亮: which lamp).
FACILITY_CODE = "facility_code"


class BadArguments(ValueError):
    """Raised with one description per wrong argument (answered as 400)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def w3c(moment: datetime | None) -> str | None:
    """Return a moment as W3C ISO 8601 in the office's time zone (+08:00)."""
    if moment is None:
        return None
    office = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return as_utc(moment).astimezone(office).isoformat(timespec="seconds")


def parse_moment(name: str, text: str) -> datetime:
    """Read a W3C date-time argument; a moment without a zone is taken in the office's zone."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadArguments(
            [f"{name}: " + str(_l("Use a W3C date-time such as 2026-11-25T08:30:00+08:00."))]
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))
    return as_utc(moment)


def datatype_description(datatype: str) -> str:
    """Explain to a client how to answer a question of a datatype."""
    texts = {
        "string": _l("A short text, at most 255 characters."),
        "number": _l("A number."),
        "datetime": _l("A W3C date-time such as 2026-11-25T08:30:00+08:00."),
        "text": _l("A longer text, at most 2000 characters."),
        "singlevaluelist": _l("One key of the listed values."),
        "multivaluelist": _l("One or more keys of the listed values, as attribute[code][]."),
    }
    return str(texts[datatype])


def photo_attribute(order: int) -> dict:
    """Return how a service says it needs a photo: an attribute that is not answered
    (variable false: clients show its description to the user, FixMyStreet as a notice) but
    required, so clients know to attach media or a media_url. A request without a photo is
    still accepted; staff then ask the resident for one."""
    return {
        "variable": False,
        "code": PHOTO_CODE,
        "datatype": "string",
        "required": True,
        "datatype_description": str(_l("Attach the photo as media (a file) or media_url.")),
        "order": order,
        "description": str(_l("A photo of the problem is required for this service.")),
    }


def facility_attribute(category: Category, order: int) -> dict:
    """Return the attribute that names the facility a request is about (its 部件编码), for a
    category bound to a facility type: optional, checked against the type and the place."""
    kind = category.facility_type.name if category.facility_type is not None else ""
    return {
        "variable": True,
        "code": FACILITY_CODE,
        "datatype": "string",
        "required": False,
        "datatype_description": str(
            _l("The facility's code, as /api/v1/facilities/nearby lists them near the place.")
        ),
        "order": order,
        "description": str(_l("Which %(kind)s it is (optional).", kind=kind)),
    }


def attributes(category: Category) -> list[dict]:
    """Return a service's attributes: its questions, the facility it may name, then the
    photo it requires, if any."""
    listed = [attribute(q) for q in category.attributes]
    order = max((q.order for q in category.attributes), default=0)
    if category.facility_type_id is not None and all(
        q.code != FACILITY_CODE for q in category.attributes
    ):
        order += 1
        listed.append(facility_attribute(category, order))
    if category.photo_required and all(q.code != PHOTO_CODE for q in category.attributes):
        listed.append(photo_attribute(order + 1))
    return listed


def service(category: Category) -> dict:
    """Return a category as an Open311 service."""
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": (category.description_en if _english() and category.description_en else None)
        or category.description_zh
        or None,
        "metadata": bool(category.attributes)
        or category.photo_required
        or category.facility_type_id is not None,
        "type": "realtime",
        "keywords": category.keywords or None,
        "group": category.group.name,
    }


def attribute(question: CategoryAttribute) -> dict:
    """Return a category's question as an Open311 service attribute."""
    answer = {
        "variable": True,
        "code": question.code,
        "datatype": question.datatype,
        "required": question.required,
        "datatype_description": datatype_description(question.datatype),
        "order": question.order,
        "description": question.description,
    }
    if question.datatype in LIST_DATATYPES:
        answer["values"] = [{"key": k, "name": n} for k, n in question.value_names()]
    return answer


def active_services(session: Session) -> list[Category]:
    """Return the categories offered as services, in display order."""
    return list(
        session.scalars(
            select(Category)
            .where(Category.active)
            .options(selectinload(Category.attributes), selectinload(Category.group))
            .order_by(Category.sort_order, Category.code)
        )
    )


def status_of(state: str) -> str:
    """Map a lifecycle state to Open311's open or closed."""
    return "closed" if state in ("closed", "rejected", "duplicate") else "open"


def _english() -> bool:
    from portal.models.base import in_english

    return in_english()


@dataclass
class Filters:
    """What GET requests asks for, checked."""

    ids: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    page_size: int = DEFAULT_CAP


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _positive(args: dict[str, str], name: str, default: int, problems: list[str]) -> int:
    text = args.get(name) or ""
    if not text:
        return default
    limit = DEFAULT_CAP if name == "page_size" else 10**6
    # isdigit() alone accepts "³" and other digits int() refuses.
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= limit:
        problems.append(f"{name}: " + str(_l("A whole number from 1 to %(n)d.", n=limit)))
        return default
    return int(text)


def read_filters(args: dict[str, str], now: datetime) -> Filters:
    """Check the arguments of GET requests; an empty argument counts as absent."""
    problems: list[str] = []
    filters = Filters(
        ids=_comma_list(args.get("service_request_id") or ""),
        codes=_comma_list(args.get("service_code") or ""),
        statuses=_comma_list(args.get("status") or ""),
        page=_positive(args, "page", 1, problems),
        page_size=_positive(args, "page_size", DEFAULT_CAP, problems),
    )
    if any(s not in STATUSES for s in filters.statuses):
        problems.append("status: " + str(_l("Use open, closed, or both separated by a comma.")))
    for name in ("start_date", "end_date"):
        if args.get(name):
            try:
                setattr(filters, name.removesuffix("_date"), parse_moment(name, args[name]))
            except BadArguments as bad:
                problems.extend(bad.problems)
    start, end = filters.start, filters.end
    if start and end and end < start:
        problems.append("end_date: " + str(_l("The end is before the start.")))
    elif start and end and end - start > SPAN:
        problems.append("end_date: " + str(_l("The dates may span at most 90 days.")))
    if problems:
        raise BadArguments(problems)
    if start is None and end is None:
        filters.end, filters.start = now, now - SPAN
    elif start is None:
        filters.start = shifted(end, -SPAN)
    elif end is None:
        filters.end = shifted(start, SPAN)
    return filters


def paged(query: Select, page: int, page_size: int) -> Select:
    """Narrow an ordered query to one page, plus one row that tells whether more follow."""
    return query.limit(page_size + 1).offset((page - 1) * page_size)


def cut(rows: list, page_size: int) -> tuple[list, bool]:
    """Split what paged() found into the page and whether a next page exists."""
    return rows[:page_size], len(rows) > page_size


def find_requests(session: Session, filters: Filters) -> list[Case]:
    """Return the public cases the filters select, newest first: one page and, if more
    follow, one row more (see cut)."""
    query = select(Case).where(Case.is_public)
    if filters.ids:
        query = query.where(Case.number.in_(filters.ids))
    else:
        query = query.where(Case.created_at >= filters.start, Case.created_at <= filters.end)
        if filters.codes:
            query = query.join(Case.category).where(Category.code.in_(filters.codes))
        if filters.statuses == ["open"]:
            query = query.where(Case.state.not_in(("closed", "rejected", "duplicate")))
        elif filters.statuses == ["closed"]:
            query = query.where(Case.state.in_(("closed", "rejected", "duplicate")))
    query = query.options(
        selectinload(Case.category),
        selectinload(Case.department),
        selectinload(Case.photos),
        selectinload(Case.events),
    ).order_by(Case.created_at.desc(), Case.id.desc())
    return list(session.scalars(paged(query, filters.page, filters.page_size)))


def public_case(session: Session, number: str) -> Case | None:
    """Return one public case by its number."""
    return session.scalar(select(Case).where(Case.number == number, Case.is_public))


def status_notes(case: Case) -> str | None:
    """Return the latest public reply of the office on a case."""
    notes = [e for e in case.public_events if e.kind in NOTE_KINDS and e.body]
    return moderation.with_note(notes[-1].body, notes[-1].moderated) if notes else None


def request_fields(
    case: Case, photo_url: Callable[[str], str], extensions: bool, viewer: ApiKey | None = None
) -> dict:
    """Return a case as an Open311 service request: never the reporter's name or contact;
    the reporter's account_id only to the system that posted the case (`viewer`)."""
    own = viewer is not None and case.api_key_id == viewer.id
    fields = {
        "service_request_id": case.number,
        "status": status_of(case.state),
        "status_notes": status_notes(case),
        "service_name": case.category.name,
        "service_code": case.category.code,
        "description": moderation.with_note(case.description, case.moderated),
        "agency_responsible": case.department.name if case.department else None,
        "service_notice": None,
        "requested_datetime": w3c(case.created_at),
        "updated_datetime": w3c(case.updated_at),
        "expected_datetime": w3c(case.resolve_due_at),
        "address": case.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lng,
        "media_url": photo_url(case.public_photos[0].sha256) if case.public_photos else None,
        "account_id": (case.account_id or None) if own else None,
    }
    if extensions:
        fields["attributes"] = [
            {"code": code, "values": value if isinstance(value, list) else [value]}
            for code, value in (case.attributes or {}).items()
        ]
        if case.facility is not None:  # the facility's code is public, as on its page
            fields["attributes"].append({"code": FACILITY_CODE, "values": [case.facility.code]})
        fields["media_urls"] = [photo_url(p.sha256) for p in case.public_photos]
        fields["notes"] = [
            {
                "update_id": str(e.id),
                "updated_datetime": w3c(e.created_at),
                "description": moderation.with_note(e.body, e.moderated),
            }
            for e in case.public_events
            if e.body
        ]
    return fields


def event_photo(session: Session, event: CaseEvent) -> Photo | None:
    """Return the photo a timeline event brought: the report's or the "after" one."""
    kind = {"submitted": "report", "resolved": "after"}.get(event.kind)
    if kind is None:
        return None
    return session.scalar(
        select(Photo)
        .where(Photo.case_id == event.case_id, Photo.kind == kind, Photo.hidden.is_(False))
        .where(Photo.created_at == event.created_at)
        .order_by(Photo.position)
        .limit(1)
    )
