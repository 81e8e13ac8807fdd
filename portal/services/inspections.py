"""Inspection reports: drafts kept as the supervisor goes, one submission, findings as cases."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_babel import force_locale
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import (
    CHECKLIST,
    Assignment,
    Case,
    CaseEvent,
    Category,
    Inspection,
    InspectionPhoto,
    Photo,
    Project,
    SpotCheckRound,
    User,
    utcnow,
)
from portal.services import audit, cases, evidence, geo, notify, routing, sla
from portal.services.photos import PhotoStore, ProcessedPhoto

RESULTS = ("pass", "fail", "na")
# Which category a failed checklist item becomes (the construction-site group of the standard).
ITEM_CATEGORIES = {
    "fencing": "0703",
    "dust": "0701",
    "road_permit": "0705",
    "night_permit": "0702",
    "pits_covers": "0706",
    "muck": "0704",
    "tidy": "0704",
    "other": "0705",
}


class InspectionError(ValueError):
    """Raised with a code when a report cannot be saved or submitted."""


def draft(
    session: Session, supervisor: User, project: Project, client_key: str, now: datetime
) -> Inspection:
    """Return the supervisor's report for this form, starting a draft the first time."""
    if not client_key or len(client_key) > 64:
        raise InspectionError("key")
    found = _by_key(session, client_key)
    if found is not None:
        return _own(found, supervisor)
    if not project.active_site:
        raise InspectionError("site")
    month = now.strftime("%Y-%m")
    assignment = session.scalar(
        select(Assignment)
        .join(Assignment.round)
        .where(
            Assignment.supervisor_id == supervisor.id,
            Assignment.project_id == project.id,
            SpotCheckRound.month == month,
        )
    )
    inspection = Inspection(
        client_key=client_key,
        project=project,
        supervisor=supervisor,
        assignment_id=assignment.id if assignment else None,
        started_at=now,
        items={},
    )
    try:
        with session.begin_nested():  # the same form sent twice at once: one insert wins
            session.add(inspection)
    except IntegrityError:
        found = _by_key(session, client_key)
        if found is None:
            raise
        return _own(found, supervisor)
    return inspection


def _by_key(session: Session, client_key: str) -> Inspection | None:
    """Return the report of a form, locking its row where the database can."""
    return session.scalar(
        select(Inspection)
        .where(Inspection.client_key == client_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _own(inspection: Inspection, supervisor: User) -> Inspection:
    if inspection.supervisor_id != supervisor.id:
        raise InspectionError("key")
    return inspection


def open_draft(
    session: Session, supervisor: User, project: Project, report_id: int | None = None
) -> Inspection | None:
    """Return the supervisor's unsubmitted report of a site: the one asked for, or the latest."""
    query = select(Inspection).where(
        Inspection.supervisor_id == supervisor.id,
        Inspection.project_id == project.id,
        Inspection.status == "draft",
    )
    if report_id is not None:
        query = query.where(Inspection.id == report_id)
    return session.scalars(
        query.order_by(Inspection.started_at.desc(), Inspection.id.desc()).limit(1)
    ).first()


def save(
    inspection: Inspection,
    items: dict[str, dict],
    position: evidence.Position | None,
    now: datetime | None = None,
) -> None:
    """Keep what the supervisor has filled in so far (a draft can be incomplete)."""
    now = now or utcnow()
    if inspection.status != "draft":
        raise InspectionError("submitted")
    kept = {}
    for item, answer in items.items():
        if item not in CHECKLIST or answer.get("result") not in (*RESULTS, ""):
            raise InspectionError("item")
        kept[item] = {"result": answer.get("result", ""), "note": (answer.get("note") or "")[:500]}
    inspection.items = kept
    if position is not None:
        if not geo.is_valid_position(position.lat, position.lng):
            raise InspectionError("position")
        evidence.record_position(inspection, position, now)
    inspection.saved_at = now


def add_photo(
    session: Session,
    inspection: Inspection,
    item: str,
    photo: ProcessedPhoto,
    store: PhotoStore,
    now: datetime,
) -> None:
    """Attach a photo to a checklist item of a draft."""
    if inspection.status != "draft" or item not in CHECKLIST:
        raise InspectionError("item")
    evidence.keep_photo(
        session, store, inspection, photo, InspectionPhoto, now, inspection.project, item=item
    )


def submit(session: Session, inspection: Inspection, now: datetime) -> list[Case]:
    """Submit a report once; failures become cases unless the evidence needs staff review."""
    session.flush()
    # A second request for the same report waits here for the first, then finds it submitted.
    session.refresh(inspection, with_for_update=True)
    if inspection.status == "submitted":
        return _cases_of(session, inspection)
    missing = [i for i in CHECKLIST if inspection.items.get(i, {}).get("result") not in RESULTS]
    if missing:
        raise InspectionError("incomplete")
    failed = [i for i in CHECKLIST if inspection.items[i]["result"] == "fail"]
    photographed = {p.item for p in inspection.photos}
    if any(item not in photographed for item in failed):
        raise InspectionError("photo")
    if not photographed:  # a pass feeds the red list: it needs a photo of the site too
        raise InspectionError("pass_photo")
    if inspection.lat is None or inspection.lng is None:
        raise InspectionError("position")
    inspection.verdict = "fail" if failed else "pass"
    distance_m = evidence.distance_to(inspection.project, inspection.lat, inspection.lng)
    evidence.judge(inspection, distance_m, now)
    # Claimed by one request only, also where rows cannot be locked (SQLite): the other one
    # waits for the write and finds the report submitted.
    claimed = session.execute(
        update(Inspection)
        .where(Inspection.id == inspection.id, Inspection.status == "draft")
        .values(status="submitted", submitted_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        session.expire(inspection)
        return _cases_of(session, inspection)
    inspection.status, inspection.submitted_at = "submitted", now
    session.flush()
    audit.record(
        session,
        inspection.supervisor,
        "inspection.submit",
        "inspection",
        inspection.id,
        after={
            "verdict": inspection.verdict,
            "off_site": inspection.off_site,
            "distance_m": round(inspection.distance_m),
            "review_reasons": inspection.review_reasons,
        },
        now=now,
    )
    if inspection.flagged:
        return []
    return findings_to_cases(session, inspection, now)


def _cases_of(session: Session, inspection: Inspection) -> list[Case]:
    return list(session.scalars(select(Case).where(Case.inspection_id == inspection.id)))


def _needs_review(inspection: Inspection) -> bool:
    # Reports filed before the evidence existed were held for being off site only.
    return inspection.status == "submitted" and (inspection.flagged or inspection.off_site)


def _decide(inspection: Inspection, staff: User, decision: str, reason: str, now: datetime) -> None:
    waiting = _needs_review(inspection) and not (inspection.confirmed_at or inspection.rejected_at)
    evidence.ensure_decidable(inspection, reason, InspectionError, waiting)
    evidence.settle(inspection, staff, decision, reason, now)


def confirm(
    session: Session, inspection: Inspection, staff: User, reason: str, now: datetime
) -> list[Case]:
    """Confirm a flagged report with the reason: its findings open and it counts from now."""
    _decide(inspection, staff, "confirm", reason, now)
    evidence.record_decision(
        session,
        staff,
        "inspection.confirm",
        inspection,
        ("inspection", inspection.id),
        now,
        review_reasons=inspection.review_reasons,
    )
    return findings_to_cases(session, inspection, now)


def reject(
    session: Session, inspection: Inspection, staff: User, reason: str, now: datetime
) -> None:
    """Reject a flagged report with the reason: it opens no case and counts nowhere."""
    _decide(inspection, staff, "reject", reason, now)
    evidence.record_decision(
        session,
        staff,
        "inspection.reject",
        inspection,
        ("inspection", inspection.id),
        now,
        review_reasons=inspection.review_reasons,
    )


def counted() -> ColumnElement[bool]:
    """Return the condition a submitted report meets to count (pass rates, the lists)."""
    return or_(
        and_(Inspection.off_site.is_(False), Inspection.flagged.is_(False)),
        Inspection.confirmed_at.is_not(None),
    )


def counts(inspection: Inspection) -> bool:
    """Tell whether a submitted report counts: its evidence held or staff confirmed it."""
    return (not inspection.off_site and not inspection.flagged) or (
        inspection.confirmed_at is not None
    )


def open_finding(
    session: Session,
    supervisor: User,
    project: Project,
    category: Category,
    position: tuple[float, float],
    description: str,
    data: dict,
    now: datetime,
    year: int,
    **links: int | str,
) -> Case:
    """Open a supervisor's finding on a work as a case, with the 48-hour response policy;
    `data` goes on its first event, `links` on the case (the report and item it came from)."""
    lat, lng = position
    case = Case(
        number=cases.next_case_number(session, year),
        category=category,
        zone=geo.zone_for_point(session, lat, lng),
        state="submitted",
        priority=category.default_priority,
        source="inspection",  # a supervisor's finding: the 48-hour policy
        lat=lat,
        lng=lng,
        address=project.name,
        description=description,
        major_hazard=category.major_hazard,
        reporter_name=supervisor.name,
        reporter_email=supervisor.email,
        reporter_hide_name=False,
        tracking_token_hash=cases.hash_token(secrets.token_urlsafe(24)),
        reporter_locale=supervisor.locale,
        project_id=project.id,
        created_at=now,
        updated_at=now,
        **links,
    )
    case.suggested_department = routing.suggest(session, case) or project.department
    sla.start_clocks(session, case, now)
    session.add(case)
    session.add(
        CaseEvent(case=case, kind="submitted", to_state="submitted", created_at=now, data=data)
    )
    return case


def findings_to_cases(session: Session, inspection: Inspection, now: datetime) -> list[Case]:
    """Open a case for each failed item, with the 48-hour response policy and its photos."""
    from portal.web import checklist_label

    made = []
    with force_locale("zh_Hans_CN"):  # case descriptions are public: Chinese first
        labels = {item: checklist_label(item) for item in CHECKLIST}
    supervisor, project = inspection.supervisor, inspection.project
    for item in CHECKLIST:
        answer = inspection.items[item]
        if answer["result"] != "fail":
            continue
        category = session.scalar(select(Category).where(Category.code == ITEM_CATEGORIES[item]))
        case = open_finding(
            session,
            supervisor,
            project,
            category,
            (inspection.lat, inspection.lng),
            f"{labels[item]}：{answer['note'] or '—'}（{project.name}）",
            {"inspection": inspection.id, "item": item},
            now,
            cases.case_year(now),
            inspection_id=inspection.id,
            inspection_item=item,
        )
        for position, photo in enumerate(p for p in inspection.photos if p.item == item):
            session.add(
                Photo(
                    case=case,
                    sha256=photo.sha256,
                    kind="report",
                    position=position,
                    width=photo.width,
                    height=photo.height,
                    created_at=now,
                )
            )
        made.append(case)
    session.flush()
    for case in made:
        notify.case_changed(session, case, case.events[-1])
    return made
