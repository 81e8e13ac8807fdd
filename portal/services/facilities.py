"""Reports on a facility: the facilities near a pin, the one a case names, its case history,
the "repeat" flag of a facility that keeps failing, and its state, which follows its cases
(丢失 while a missing-cover case is open, 完好 again once the fix is verified).

Every change of a facility's state is kept as a FacilityStateChange row. The workflow
functions (services/cases, services/workflow, services/review) call `case_changed` after
each change of a case, so the web, the API and the CLI all move the facility alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from shapely.geometry import LineString, Point
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from portal.models import OPEN_STATES, Case, Category, User
from portal.models.facilities import Facility, FacilityStateChange
from portal.services import facility_register, geo

# The states a case may put its facility in, strongest first.
CASE_STATES = ("missing", "damaged", "occupied")
# Cases that count towards the repeat flag: every case but refused ones and duplicates.
NOT_COUNTED = ("rejected", "duplicate")
DEFAULT_RADIUS_M = 150.0
STATE_LABELS = {
    "intact": _l("Intact"),
    "damaged": _l("Damaged"),
    "missing": _l("Missing"),
    "occupied": _l("Occupied"),
    "abandoned": _l("Abandoned"),
}


class FacilityError(ValueError):
    """Raised when a facility cannot be named on a case; `code` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _local_xy(lat0: float, lng0: float, lat: float, lng: float) -> tuple[float, float]:
    """Return metres east and north of (lat0, lng0): exact enough within a few hundred metres."""
    east = (lng - lng0) * geo.METERS_PER_DEGREE * math.cos(math.radians(lat0))
    return east, (lat - lat0) * geo.METERS_PER_DEGREE


def distance_to(facility: Facility, lat: float, lng: float) -> float:
    """Return the distance in metres from a point to a facility (to the nearest part of a
    line, to a point itself)."""
    geometry = facility.geometry or {}
    if geometry.get("type") == "LineString" and len(geometry.get("coordinates") or []) >= 2:
        line = LineString([_local_xy(lat, lng, c[1], c[0]) for c in geometry["coordinates"]])
        return float(line.distance(Point(0.0, 0.0)))
    return geo.distance_m((lat, lng), (facility.lat, facility.lng))


def nearby(
    session: Session,
    type_id: int,
    lat: float,
    lng: float,
    radius_m: float = DEFAULT_RADIUS_M,
    limit: int = 10,
) -> list[tuple[Facility, float]]:
    """Return the facilities of a type (or of its family: a resident cannot tell a storm
    drain's cover from a gas main's) within a radius of a point, nearest first (at most
    `limit`), with their distance in metres. Abandoned ones (废弃) are left out."""
    if not geo.is_valid_position(lat, lng) or radius_m <= 0:
        return []
    min_lat, min_lng, max_lat, max_lng = geo.bbox_around(lat, lng, radius_m)
    found: list[Facility] = []
    # Points in the box itself, lines by the wider band their start may lie in: each a
    # band of the (type_id, min_lat, min_lng) index.
    kinds = facility_register.kinds_of(session, facility_register.family(session, type_id))
    for kind, ids in kinds.items():
        if ids:
            found += session.scalars(
                select(Facility).where(
                    Facility.type_id.in_(ids),
                    Facility.state != "abandoned",
                    *facility_register.box_filter(kind, min_lng, min_lat, max_lng, max_lat),
                )
            ).all()
    near = [(f, distance_to(f, lat, lng)) for f in found]
    near = [(f, d) for f, d in near if d <= radius_m]
    return sorted(near, key=lambda pair: (pair[1], pair[0].code))[:limit]


# Why a case changed a facility's state (FacilityStateChange.reason).
REASON_LABELS = {
    "case_open": _l("a case about it is open"),
    "case_closed": _l("its case was verified fixed and closed"),
    "case_let_go": _l("its case was refused, merged or moved: the state before it"),
}


def reason_label(reason: str) -> str:
    """Return why a facility's state changed, in the reader's language (else as stored)."""
    return str(REASON_LABELS[reason]) if reason in REASON_LABELS else reason


def state_label(state: str) -> str:
    """Return a facility state's name in the reader's language (完好, 丢失 ...)."""
    return str(STATE_LABELS.get(state, state))


def public_fields(facility: Facility, distance: float | None = None) -> dict:
    """Return what anyone may see of a facility: code, type, state and place, nothing of
    its owner, grid or survey attributes."""
    fields = {
        "code": facility.code,
        "type": facility.type.code,
        "type_name": facility.type.name,
        "state": facility.state,
        "state_label": state_label(facility.state),
        "lat": round(facility.lat, 7),
        "lng": round(facility.lng, 7),
    }
    if distance is not None:
        fields["distance_m"] = round(distance, 1)
    return fields


def by_code(session: Session, code: str) -> Facility | None:
    """Return a facility by its code (部件编码); None for an unknown or malformed one."""
    code = (code or "").strip()
    if not code or len(code) > 40:
        return None
    return session.scalar(select(Facility).where(Facility.code == code))


def attach_radius() -> float:
    """Return how far from the pin a named facility may be."""
    return float(current_app.config["FACILITY_ATTACH_RADIUS_M"])


def check_pick(session: Session, category: Category, code: str, lat: float, lng: float) -> Facility:
    """Return the facility a report names by code, checked against its category and pin;
    raise FacilityError: 'unbound' (the category names no facility), 'unknown', 'type' (of
    another type), 'abandoned' or 'far' (farther from the pin than the attach radius)."""
    if category.facility_type_id is None:
        raise FacilityError("unbound")
    facility = by_code(session, code)
    if facility is None:
        raise FacilityError("unknown")
    if facility.type_id not in facility_register.family(session, category.facility_type_id):
        raise FacilityError("type")
    if facility.state == "abandoned":
        raise FacilityError("abandoned")
    if distance_to(facility, lat, lng) > attach_radius():
        raise FacilityError("far")
    return facility


def problem_text(error: FacilityError) -> str:
    """Return the resident's message for a refused facility, in their language."""
    from flask_babel import gettext as _

    messages = {
        "unbound": _("This category does not name a facility."),
        "unknown": _("There is no facility with this code."),
        "type": _("This facility is not of the type this category is about."),
        "abandoned": _("This facility is no longer in use."),
        "far": _(
            "This facility is more than %(m)d m from the place of the report.",
            m=int(attach_radius()),
        ),
    }
    return messages.get(error.code, _("This facility cannot be named here."))


def attach(
    session: Session,
    case: Case,
    facility: Facility,
    now: datetime,
    actor: User | None = None,
    snap: bool = True,
) -> None:
    """Name a facility on a case after checking it (type, distance from the case's pin);
    the pin snaps to the facility, and the facility's state follows the case."""
    check_pick(session, case.category, facility.code, case.lat, case.lng)
    previous = case.facility
    case.facility = facility
    if snap:
        case.lat, case.lng = facility.lat, facility.lng
    session.flush()
    if previous is not None and previous.id != facility.id:
        follow(session, previous, now, case, actor)
    follow(session, facility, now, case, actor)


def _set_state(
    session: Session,
    facility: Facility,
    to: str,
    now: datetime,
    case: Case | None,
    actor: User | None,
    reason: str,
) -> None:
    if facility.state == to:
        return
    session.add(
        FacilityStateChange(
            facility_id=facility.id,
            from_state=facility.state,
            to_state=to,
            case_id=case.id if case is not None else None,
            actor_id=actor.id if actor is not None else None,
            reason=reason,
            created_at=now,
        )
    )
    facility.state = to
    facility.updated_at = now


def _state_before_cases(session: Session, facility: Facility) -> str:
    """Return the state the facility had before the latest run of changes made by cases."""
    changes = session.scalars(
        select(FacilityStateChange)
        .where(FacilityStateChange.facility_id == facility.id)
        .order_by(FacilityStateChange.created_at.desc(), FacilityStateChange.id.desc())
    ).all()
    before = facility.state
    for change in changes:
        if change.case_id is None:
            break
        before = change.from_state
    return before


def follow(
    session: Session,
    facility: Facility,
    now: datetime,
    case: Case | None = None,
    actor: User | None = None,
) -> None:
    """Move a facility's state after its cases: the strongest state an open case of its
    holds (丢失 before 破损 before 占用); when none is held any more, 完好 if the case that
    let it go was closed (verified fixed), else (refused, merged, moved to another facility)
    the state it had before cases changed it. A facility 废弃 stays so."""
    if facility.state == "abandoned":
        return
    held = set(
        session.scalars(
            select(Category.facility_state)
            .join(Case, Case.category_id == Category.id)
            .where(
                Case.facility_id == facility.id,
                Case.state.in_(OPEN_STATES),
                Case.held.is_(False),
                Category.facility_state != "",
            )
        )
    )
    wanted = next((state for state in CASE_STATES if state in held), None)
    if wanted is not None:
        _set_state(session, facility, wanted, now, case, actor, "case_open")
        return
    last = session.scalar(
        select(FacilityStateChange)
        .where(FacilityStateChange.facility_id == facility.id)
        .order_by(FacilityStateChange.created_at.desc(), FacilityStateChange.id.desc())
        .limit(1)
    )
    if last is None or last.case_id is None or facility.state not in CASE_STATES:
        return  # its state was not made by cases: a case cannot undo a survey
    if case is not None and case.state == "closed" and case.facility_id == facility.id:
        _set_state(session, facility, "intact", now, case, actor, "case_closed")
    else:
        restored = _state_before_cases(session, facility)
        _set_state(session, facility, restored, now, case, actor, "case_let_go")


def case_changed(session: Session, case: Case, now: datetime, actor: User | None = None) -> None:
    """Let the case's facility follow a change of the case (its state, category, release
    from review). Called by the workflow functions after they change a case."""
    facility = case.facility
    if facility is None:
        return
    if case.category.facility_type_id != facility.type_id:
        case.facility = None  # reclassified as something this facility is not
        session.flush()
    follow(session, facility, now, case, actor)


def history(session: Session, facility: Facility) -> tuple[list[Case], list[FacilityStateChange]]:
    """Return a facility's cases, newest first, and its state changes, newest first."""
    found = session.scalars(
        select(Case)
        .where(Case.facility_id == facility.id)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(100)
    ).all()
    changes = session.scalars(
        select(FacilityStateChange)
        .where(FacilityStateChange.facility_id == facility.id)
        .order_by(FacilityStateChange.created_at.desc(), FacilityStateChange.id.desc())
        .limit(100)
    ).all()
    return list(found), list(changes)


def repeat_rule() -> tuple[int, int]:
    """Return the repeat rule: N cases within D days (FACILITY_REPEAT_COUNT, _DAYS)."""
    config = current_app.config
    return int(config["FACILITY_REPEAT_COUNT"]), int(config["FACILITY_REPEAT_DAYS"])


def _counted(now: datetime, days: int) -> Select:
    return select(Case.facility_id, func.count(Case.id).label("n")).where(
        Case.facility_id.is_not(None),
        Case.created_at >= now - timedelta(days=days),
        Case.created_at <= now,
        Case.state.not_in(NOT_COUNTED),
        Case.held.is_(False),
    )


def repeat_ids(now: datetime) -> Select:
    """Return the query of the ids of the facilities with N cases or more in D days."""
    count, days = repeat_rule()
    return _counted(now, days).group_by(Case.facility_id).having(func.count(Case.id) >= count)


def case_counts(session: Session, facility_ids: list[int], now: datetime) -> dict[int, int]:
    """Return, by facility id, how many cases it had within the repeat rule's days."""
    if not facility_ids:
        return {}
    _count, days = repeat_rule()
    rows = session.execute(
        _counted(now, days)
        .where(Case.facility_id.in_(set(facility_ids)))
        .group_by(Case.facility_id)
    ).all()
    return {row.facility_id: row.n for row in rows}


def is_repeat(session: Session, facility: Facility, now: datetime) -> bool:
    """Tell whether a facility keeps failing: N cases or more within D days."""
    count, _days = repeat_rule()
    return case_counts(session, [facility.id], now).get(facility.id, 0) >= count


@dataclass
class Repeat:
    """A facility that keeps failing, for the dispatcher's list."""

    facility: Facility
    cases: int
    open_cases: int
    last_at: datetime


def repeats(session: Session, now: datetime, limit: int = 500) -> list[Repeat]:
    """Return the facilities with N cases or more in D days, most cases first."""
    _count, days = repeat_rule()
    flagged = repeat_ids(now).subquery()
    rows = session.execute(
        select(
            Facility,
            flagged.c.n,
            func.count(Case.id).filter(Case.state.in_(OPEN_STATES)).label("open"),
            func.max(Case.created_at).label("last_at"),
        )
        .join(flagged, flagged.c.facility_id == Facility.id)
        .join(Case, Case.facility_id == Facility.id)
        .where(
            Case.created_at >= now - timedelta(days=days),
            Case.state.not_in(NOT_COUNTED),
            Case.held.is_(False),
        )
        .group_by(Facility.id, flagged.c.n)
        .order_by(flagged.c.n.desc(), func.max(Case.created_at).desc())
        .limit(limit)
    ).all()
    return [Repeat(row[0], row[1], row[2], row[3]) for row in rows]
