"""The one map for staff (一张图): each layer's features inside a box, as GeoJSON.

Every layer reads one indexed box query (cases on their position, facilities on their
bounding box, zones on theirs) and returns at most LIMIT features, saying when it cut.
A handler sees their own department's work only; dispatchers and admins see everything
and may narrow it by department. A layer is one entry in LAYERS (and one in
static/js/one_map.js).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from portal.models import (
    OPEN_ALARM_STATES,
    OPEN_STATES,
    Alarm,
    Case,
    Category,
    CategoryGroup,
    Department,
    Device,
    Facility,
    FacilityType,
    Hotspot,
    Project,
    User,
    Zone,
)
from portal.models.base import in_english
from portal.services import case_search, hotspots

LIMIT = 2000


@dataclass(frozen=True)
class MapQuery:
    """What a layer is asked for: a box and the page's filters, already checked."""

    bbox: tuple[float, float, float, float]  # min_lng, min_lat, max_lng, max_lat
    department_id: int | None = None
    category_id: int | None = None
    group_id: int | None = None
    facility_type_id: int | None = None


@dataclass(frozen=True)
class Links:
    """How a layer links its objects (built once per request by the view)."""

    case: Callable[[str], str]
    project: Callable[[str], str]
    facility: Callable[[str], str]
    hotspots: Callable[[], str]
    device: Callable[[int], str]
    alarm: Callable[[int], str]


class MapError(ValueError):
    """Raised when a filter names nothing known."""


def scoped(user: User, department_id: int | None) -> int | None:
    """Return the department a user's map is narrowed to: a handler's own, always."""
    if user.role == "handler":
        return user.department_id or -1
    return department_id


def read_filters(
    session: Session, department: str, category: str, facility_type: str
) -> tuple[int | None, int | None, int | None, int | None]:
    """Turn the filters' codes into ids (department, category, its group, facility type)."""
    ids: list[int | None] = []
    for model, code in ((Department, department), (Category, category)):
        if not code:
            ids.append(None)
            continue
        found = session.scalar(select(model.id).where(model.code == code[:40]))
        if found is None:
            raise MapError(model.__tablename__)
        ids.append(found)
    group = (
        session.scalar(select(Category.group_id).where(Category.id == ids[1])) if ids[1] else None
    )
    kind = None
    if facility_type:
        kind = session.scalar(select(FacilityType.id).where(FacilityType.code == facility_type[:4]))
        if kind is None:
            raise MapError("facility_type")
    return ids[0], ids[1], group, kind


def _shape(geometry: dict, properties: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _feature(lng: float, lat: float, properties: dict) -> dict:
    return _shape({"type": "Point", "coordinates": [lng, lat]}, properties)


def _point(row, properties: dict) -> dict:
    """Return the feature of a row at its own position (lat, lng)."""
    return _feature(row.lng, row.lat, properties)


def _in_box(model, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """Return the condition of a row whose position (lat, lng) lies in the box."""
    min_lng, min_lat, max_lng, max_lat = bbox
    return and_(model.lat.between(min_lat, max_lat), model.lng.between(min_lng, max_lng))


def _meets_box(model, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """Return the condition of a row whose own bounding box meets the box."""
    min_lng, min_lat, max_lng, max_lat = bbox
    return and_(
        model.min_lat <= max_lat,
        model.max_lat >= min_lat,
        model.min_lng <= max_lng,
        model.max_lng >= min_lng,
    )


def _only(stmt: Select, column, value: int | None) -> Select:
    """Narrow a query to the rows whose column holds the filter's value, if a filter is set."""
    return stmt if value is None else stmt.where(column == value)


def _name(row, prefix: str = "") -> str:
    zh, en = getattr(row, f"{prefix}name_zh"), getattr(row, f"{prefix}name_en")
    return en if in_english() and en else zh


def cases(session: Session, query: MapQuery, links: Links, now: datetime) -> list[dict]:
    """Return the open cases in the box (and the last 30 days' closed ones), overdue marked."""
    overdue = and_(Case.state.in_(OPEN_STATES), case_search.next_due() < now)
    stmt = (
        select(
            Case.number,
            Case.lat,
            Case.lng,
            Case.state,
            Category.name_zh,
            Category.name_en,
            overdue.label("overdue"),
        )
        .join(Case.category)
        .where(Case.held.is_(False), Case.state.in_(OPEN_STATES), _in_box(Case, query.bbox))
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(LIMIT)
    )
    stmt = _only(stmt, Case.department_id, query.department_id)
    stmt = _only(stmt, Case.category_id, query.category_id)
    return [
        _point(
            row,
            {
                "number": row.number,
                "state": row.state,
                "category": _name(row),
                "overdue": bool(row.overdue),
                "url": links.case(row.number),
            },
        )
        for row in session.execute(stmt)
    ]


def works(session: Session, query: MapQuery, links: Links, now: datetime) -> list[dict]:
    """Return the works in the box, construction sites marked."""
    stmt = (
        select(
            Project.code, Project.name, Project.phase, Project.active_site, Project.lat, Project.lng
        )
        .where(_in_box(Project, query.bbox))
        .order_by(Project.code)
        .limit(LIMIT)
    )
    stmt = _only(stmt, Project.department_id, query.department_id)
    return [
        _point(
            row,
            {
                "code": row.code,
                "name": row.name,
                "phase": row.phase,
                "site": row.active_site,
                "url": links.project(row.code),
            },
        )
        for row in session.execute(stmt)
    ]


def facilities(session: Session, query: MapQuery, links: Links, now: datetime) -> list[dict]:
    """Return the facilities whose box meets the map's, by type and state (the contract of
    /api/v1/facilities.geojson: code, type, type_name, state, url), with their geometry."""
    stmt = (
        select(
            Facility.code,
            Facility.geometry,
            Facility.state,
            FacilityType.code.label("type"),
            FacilityType.name_zh,
            FacilityType.name_en,
        )
        .join(Facility.type)
        .where(_meets_box(Facility, query.bbox))
        .order_by(Facility.id)
        .limit(LIMIT)
    )
    stmt = _only(stmt, Facility.department_id, query.department_id)
    stmt = _only(stmt, Facility.type_id, query.facility_type_id)
    return [
        _shape(
            row.geometry,
            {
                "code": row.code,
                "type": row.type,
                "type_name": _name(row),
                "state": row.state,
                "url": links.facility(row.code),
            },
        )
        for row in session.execute(stmt)
    ]


def grid(session: Session, query: MapQuery, links: Links, now: datetime) -> list[dict]:
    """Return the grid cells meeting the box, each with its number of open cases."""
    counted = select(Case.zone_id, func.count().label("open")).where(
        Case.held.is_(False), Case.state.in_(OPEN_STATES)
    )
    counted = _only(counted, Case.department_id, query.department_id)
    counted = _only(counted, Case.category_id, query.category_id)
    counts = counted.group_by(Case.zone_id).subquery()
    stmt = (
        select(Zone.code, Zone.name_zh, Zone.name_en, Zone.geometry, counts.c.open)
        .outerjoin(counts, counts.c.zone_id == Zone.id)
        .where(Zone.level == "grid", _meets_box(Zone, query.bbox))
        .order_by(Zone.code)
        .limit(LIMIT)
    )
    return [
        _shape(row.geometry, {"code": row.code, "name": _name(row), "open": row.open or 0})
        for row in session.execute(stmt)
    ]


def heat(session: Session, query: MapQuery, links: Links, now: datetime) -> list[dict]:
    """Return the latest week's hotspots in the box, at the middle of the cases behind each."""
    week = hotspots.latest_week(session)
    if week is None:
        return []
    found = hotspots.of_week(session, week, query.department_id)
    if query.group_id is not None:
        found = [h for h in found if h.group_id == query.group_id]
    positions = dict(
        (row.id, (row.lat, row.lng))
        for row in session.execute(
            select(Case.id, Case.lat, Case.lng).where(
                Case.id.in_({i for h in found for i in h.case_ids})
            )
        )
    )
    groups = {g.id: g for g in session.scalars(select(CategoryGroup))}
    min_lng, min_lat, max_lng, max_lat = query.bbox
    features = []
    for spot in found:
        points = [positions[i] for i in spot.case_ids if i in positions]
        if points:
            lat = sum(p[0] for p in points) / len(points)
            lng = sum(p[1] for p in points) / len(points)
        else:
            zone = spot.zone
            lat, lng = (zone.min_lat + zone.max_lat) / 2, (zone.min_lng + zone.max_lng) / 2
        if not (min_lat <= lat <= max_lat and min_lng <= lng <= max_lng):
            continue
        features.append(
            _feature(
                lng,
                lat,
                {
                    "id": spot.id,
                    "week": spot.week_start.isoformat(),
                    "cell": spot.zone.name,
                    "group": groups[spot.group_id].name,
                    "observed": spot.observed,
                    "expected": round(spot.expected, 2),
                    "p_value": spot.p_value,
                    "points": [[p[1], p[0]] for p in points],
                    "url": links.hotspots() + f"#hotspot-{spot.id}",
                },
            )
        )
    return features


def devices(session: Session, query: MapQuery, links: Links, now: datetime) -> list[dict]:
    """Return the active devices in the box with their status and last value."""
    stmt = select(Device).where(Device.active.is_(True), _in_box(Device, query.bbox))
    stmt = _only(stmt, Device.department_id, query.department_id)
    return [
        _point(
            d,
            {
                "id": d.id,
                "code": d.code,
                "name": d.name,
                "kind": d.kind,
                "status": d.status,
                "last_value": d.last_value,
                "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
                "url": links.device(d.id),
            },
        )
        for d in session.scalars(stmt.order_by(Device.id).limit(LIMIT))
    ]


def alarms(session: Session, query: MapQuery, links: Links, now: datetime) -> list[dict]:
    """Return the open alarms in the box, the newest first."""
    stmt = select(Alarm).where(Alarm.state.in_(OPEN_ALARM_STATES), _in_box(Alarm, query.bbox))
    if query.department_id is not None:
        stmt = stmt.where(Alarm.device.has(Device.department_id == query.department_id))
    return [
        _point(
            a,
            {
                "id": a.id,
                "summary": a.summary,
                "state": a.state,
                "escalation_level": a.escalation_level,
                "opened_at": a.opened_at.isoformat(),
                "breach_count": a.breach_count,
                "url": links.alarm(a.id),
            },
        )
        for a in session.scalars(stmt.order_by(Alarm.opened_at.desc()).limit(LIMIT))
    ]


# The layers the map offers, in the order of its layer list.
LAYERS: dict[str, Callable[[Session, MapQuery, Links, datetime], list[dict]]] = {
    "cases": cases,
    "works": works,
    "facilities": facilities,
    "grid": grid,
    "hotspots": heat,
    "devices": devices,
    "alarms": alarms,
}


def layer(session: Session, name: str, query: MapQuery, links: Links, now: datetime) -> dict:
    """Return one layer's features in the box as a FeatureCollection."""
    found = LAYERS[name](session, query, links, now)
    return {"type": "FeatureCollection", "features": found, "truncated": len(found) >= LIMIT}


def overdue_cases(session: Session, department_id: int | None, now: datetime, limit: int = 20):
    """Return the overdue open cases, most overdue first (the map's list without tiles)."""
    due = case_search.next_due()
    stmt = (
        select(Case)
        .where(Case.held.is_(False), Case.state.in_(OPEN_STATES), due < now)
        .order_by(due)
        .limit(limit)
    )
    if department_id is not None:
        stmt = stmt.where(Case.department_id == department_id)
    return session.scalars(stmt).all()


def cell_counts(session: Session, department_id: int | None) -> list[tuple[Zone, int]]:
    """Return the grid cells with their open cases, the busiest first."""
    stmt = (
        select(Zone, func.count(Case.id))
        .outerjoin(
            Case,
            and_(
                Case.zone_id == Zone.id,
                Case.held.is_(False),
                Case.state.in_(OPEN_STATES),
                *([Case.department_id == department_id] if department_id is not None else []),
            ),
        )
        .where(Zone.level == "grid")
        .group_by(Zone.id)
        .order_by(func.count(Case.id).desc(), Zone.code)
    )
    return [(zone, count) for zone, count in session.execute(stmt)]


def district_bounds(session: Session) -> list[float] | None:
    """Return [south, west, north, east] of the districts, for the map's first view."""
    row = session.execute(
        select(
            func.min(Zone.min_lat),
            func.min(Zone.min_lng),
            func.max(Zone.max_lat),
            func.max(Zone.max_lng),
        ).where(Zone.level == "district")
    ).one()
    return list(row) if row[0] is not None else None


def latest_hotspots(session: Session, department_id: int | None) -> list[Hotspot]:
    """Return the latest computed week's hotspots (for the list beside the map)."""
    week = hotspots.latest_week(session)
    return hotspots.of_week(session, week, department_id) if week else []
