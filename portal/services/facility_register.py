"""The facility register (部件): where a facility lies, who owns it, its code, and finding
facilities by box or near a point.

Every facility keeps its bounding box; no facility's box is taller or wider than
MAX_SPAN_DEG, so a box query can bound `min_lat` on both sides and walk the
(min_lat, min_lng) index (ix_facility_box, or ix_facility_type_box with a type) for points
and lines alike. The owner department and the grid cell are computed from the zones when a
facility is made or moved, and kept when the zones change later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from shapely.geometry import LineString, Point, shape
from shapely.prepared import PreparedGeometry, prep
from sqlalchemy import CompoundSelect, Row, Select, Text, bindparam, cast, func, select, union_all
from sqlalchemy.orm import Session

from portal.models import (
    FACILITY_STATES,
    Category,
    Facility,
    FacilityStateChange,
    FacilityType,
    User,
    Zone,
)
from portal.services import geo, routing

# About 1.1 km of latitude: longer lines are surveyed as several segments. The smaller it
# is, the narrower the band of the index a box query walks.
MAX_SPAN_DEG = 0.01
SERIAL_DIGITS = 6
CODE_PATTERN = re.compile(r"^[0-9A-Za-z]{1,40}$")
DEFAULT_DISTRICT_CODE = "330105"  # 拱墅区, the demo district's administrative code
# A resident cannot tell a sewer cover from a telecom one: a report on one cover type is
# offered the covers of every network nearby.
FAMILIES = (("0101", "0102", "0103", "0106", "0108", "0112"),)


# What is wrong with a broken geometry, by the key a FacilityError carries as its detail.
DETAILS = {
    "position": _l("a position is [lng, lat]"),
    "number": _l("a coordinate is not a number"),
    "range": _l("a coordinate is out of range"),
    "kind": _l("a Point or a LineString is expected"),
    "two": _l("a line needs two positions or more"),
    "distinct": _l("a line needs two different positions"),
}


class FacilityError(ValueError):
    """A facility that cannot be registered; `reason` names why (see facility_io.REASONS)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Placement:
    """A checked geometry with its representative point and bounding box."""

    geometry: dict
    lat: float
    lng: float
    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float

    def columns(self) -> dict:
        """Return the facility columns this placement fills."""
        return {
            "geometry": self.geometry,
            "lat": self.lat,
            "lng": self.lng,
            "min_lat": self.min_lat,
            "min_lng": self.min_lng,
            "max_lat": self.max_lat,
            "max_lng": self.max_lng,
        }


def _position(value: object) -> tuple[float, float]:
    """Read one GeoJSON position as (lng, lat); raise FacilityError if it is not one."""
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise FacilityError("geometry", "position")
    try:
        lng, lat = float(value[0]), float(value[1])
    except (TypeError, ValueError) as error:
        raise FacilityError("geometry", "number") from error
    if not geo.is_valid_position(lat, lng):
        raise FacilityError("geometry", "range")
    return round(lng, 7), round(lat, 7)


def place(geometry: object, kind: str | None = None) -> Placement:
    """Check a GeoJSON Point or LineString (WGS-84) and return where it lies.

    `kind` ("point" or "line") is the type's geometry kind, when known.
    """
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Point", "LineString"):
        raise FacilityError("geometry", "kind")
    if kind is not None and {"Point": "point", "LineString": "line"}[geometry["type"]] != kind:
        raise FacilityError("geometry_kind", kind)
    coordinates = geometry.get("coordinates")
    if geometry["type"] == "Point":
        lng, lat = _position(coordinates)
        return Placement({"type": "Point", "coordinates": [lng, lat]}, lat, lng, lat, lng, lat, lng)
    if not isinstance(coordinates, list | tuple) or len(coordinates) < 2:
        raise FacilityError("geometry", "two")
    points = [_position(p) for p in coordinates]
    line = LineString(points)
    if line.length == 0:
        raise FacilityError("geometry", "distinct")
    min_lng, min_lat, max_lng, max_lat = line.bounds
    if max(max_lat - min_lat, max_lng - min_lng) > MAX_SPAN_DEG + 1e-9:  # float noise
        raise FacilityError("too_long")
    middle = line.interpolate(0.5, normalized=True)
    return Placement(
        {"type": "LineString", "coordinates": [list(p) for p in points]},
        round(middle.y, 7),
        round(middle.x, 7),
        min_lat,
        min_lng,
        max_lat,
        max_lng,
    )


def district_code() -> str:
    """Return the district's code that starts every facility code (FACILITY_DISTRICT_CODE)."""
    return current_app.config.get("FACILITY_DISTRICT_CODE") or DEFAULT_DISTRICT_CODE


def code_prefix(facility_type: FacilityType) -> str:
    """Return the start of the codes of a type: district code + class + subclass."""
    return district_code() + facility_type.code


def check_code(code: str, facility_type: FacilityType) -> str:
    """Return a code given in a survey if it fits its type; raise FacilityError if not."""
    code = code.strip()
    prefix = code_prefix(facility_type)
    if not CODE_PATTERN.match(code) or not code.startswith(prefix) or len(code) == len(prefix):
        raise FacilityError("code", code)
    return code


class Serials:
    """Hand out the next free serials of each type's code prefix."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.last: dict[str, int] = {}

    def _highest(self, prefix: str) -> int:
        codes = self.session.scalars(
            select(Facility.code)
            .where(Facility.code.startswith(prefix, autoescape=True))
            .order_by(func.length(Facility.code).desc(), Facility.code.desc())
            .limit(1)
        ).all()
        tail = codes[0][len(prefix) :] if codes else ""
        return int(tail) if tail.isdigit() else 0

    def next(self, facility_type: FacilityType) -> str:
        """Return a new code for a facility of the type."""
        prefix = code_prefix(facility_type)
        if prefix not in self.last:
            self.last[prefix] = self._highest(prefix)
        self.last[prefix] += 1
        return f"{prefix}{self.last[prefix]:0{SERIAL_DIGITS}d}"

    def taken(self, code: str, facility_type: FacilityType) -> None:
        """Note a code used by an import, so that new serials come after it."""
        prefix = code_prefix(facility_type)
        tail = code[len(prefix) :]
        if tail.isdigit():
            if prefix not in self.last:
                self.last[prefix] = self._highest(prefix)
            self.last[prefix] = max(self.last[prefix], int(tail))


@dataclass
class Locator:
    """Find the grid cell and the owner department of places; the zones and bound categories
    are read once, so an import of many rows asks the database nothing per row."""

    session: Session
    zones: list[tuple[Zone, PreparedGeometry]] = field(default_factory=list)
    owners: dict[tuple[int, int | None], int | None] = field(default_factory=dict)
    bound: dict[int, list[Category]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        depth = geo.LEVEL_DEPTH
        ordered = sorted(self.session.scalars(select(Zone)), key=lambda z: -depth.get(z.level, 0))
        self.zones = [(z, prep(shape(z.geometry))) for z in ordered]
        for category in self.session.scalars(
            select(Category).where(Category.facility_type_id.is_not(None)).order_by(Category.code)
        ):
            self.bound.setdefault(category.facility_type_id, []).append(category)

    def zone(self, lat: float, lng: float) -> Zone | None:
        """Return the most specific zone holding the point."""
        point = Point(lng, lat)
        for zone, prepared in self.zones:
            if (
                zone.min_lat <= lat <= zone.max_lat
                and zone.min_lng <= lng <= zone.max_lng
                and prepared.covers(point)
            ):
                return zone
        return None

    def owner(self, facility_type: FacilityType, zone: Zone | None) -> int | None:
        """Return the department owning a type's facilities in a zone.

        The routing rules of the categories bound to the type vote (the department most
        of them name wins, the first category breaking a tie); the type's own default
        department answers where none names one.
        """
        key = (facility_type.id, zone.id if zone else None)
        if key not in self.owners:
            votes: dict[int, int] = {}
            for category in self.bound.get(facility_type.id, []):
                department = routing.for_place(self.session, category, zone)
                if department is not None:
                    votes[department.id] = votes.get(department.id, 0) + 1
            best = max(votes, key=lambda d: votes[d], default=None)  # first wins a tie
            self.owners[key] = best if best is not None else facility_type.department_id
        return self.owners[key]

    def columns(self, facility_type: FacilityType, placement: Placement) -> dict:
        """Return the grid cell and department columns of a facility placed here."""
        zone = self.zone(placement.lat, placement.lng)
        grid = zone if zone is not None and zone.level == "grid" else None
        return {
            "grid_id": grid.id if grid else None,
            "department_id": self.owner(facility_type, zone),
        }


def create(
    session: Session,
    facility_type: FacilityType,
    geometry: dict,
    *,
    code: str | None = None,
    name: str = "",
    address: str = "",
    state: str = "intact",
    installed_on: date | None = None,
    attributes: dict | None = None,
    locator: Locator | None = None,
    serials: Serials | None = None,
) -> Facility:
    """Register one facility: check it, compute its owner and grid cell, give it a code."""
    if state not in FACILITY_STATES:
        raise FacilityError("state", state)
    placement = place(geometry, facility_type.geometry_kind)
    if code is None:
        code = (serials or Serials(session)).next(facility_type)
    else:
        code = check_code(code, facility_type)
        if session.scalar(select(Facility.id).where(Facility.code == code)) is not None:
            raise FacilityError("duplicate", code)
    facility = Facility(
        code=code,
        type=facility_type,
        name=name,
        address=address,
        state=state,
        installed_on=installed_on,
        attributes=attributes or {},
        **placement.columns(),
        **(locator or Locator(session)).columns(facility_type, placement),
    )
    session.add(facility)
    session.flush()
    return facility


def update(
    session: Session,
    facility: Facility,
    *,
    geometry: dict | None = None,
    state: str | None = None,
    actor: User | None = None,
    reason: str = "",
    locator: Locator | None = None,
    **fields: object,
) -> bool:
    """Change a facility; a move computes its owner and grid cell again, a new state is
    kept in its history. Return whether anything changed."""
    changed = False
    if geometry is not None:
        placement = place(geometry, facility.type.geometry_kind)
        if placement.geometry != facility.geometry:
            columns = placement.columns()
            columns.update((locator or Locator(session)).columns(facility.type, placement))
            for key, value in columns.items():
                setattr(facility, key, value)
            changed = True
    for key, value in fields.items():
        if key not in ("name", "address", "installed_on", "attributes"):
            raise TypeError(key)
        if getattr(facility, key) != value:
            setattr(facility, key, value)
            changed = True
    if state is not None and state != facility.state:
        if state not in FACILITY_STATES:
            raise FacilityError("state", state)
        session.add(
            FacilityStateChange(
                facility_id=facility.id,
                from_state=facility.state,
                to_state=state,
                actor_id=actor.id if actor else None,
                reason=reason,
            )
        )
        facility.state = state
        changed = True
    session.flush()
    return changed


def by_code(session: Session, code: str) -> Facility | None:
    """Return the facility with a code, or None."""
    if not CODE_PATTERN.match(code):
        return None
    return session.scalar(select(Facility).where(Facility.code == code))


def kinds_of(session: Session, type_ids: list[int] | None) -> dict[str, list[int]]:
    """Split types (every type when None) into point types and line types."""
    query = select(FacilityType.id, FacilityType.geometry_kind).order_by(FacilityType.id)
    kinds: dict[str, list[int]] = {"point": [], "line": []}
    for type_id, kind in session.execute(query):
        if type_ids is None or type_id in type_ids:
            kinds[kind].append(type_id)
    return kinds


def box_filter(kind: str, min_lng: float, min_lat: float, max_lng: float, max_lat: float) -> list:
    """Return the conditions for facilities of a kind whose box overlaps the given one.

    A point's box is the point, so its band of the (type, min_lat, min_lng) index is the
    box itself; a line may start up to MAX_SPAN_DEG before the box, so its band is wider.
    """
    if kind == "point":
        return [
            Facility.min_lat.between(min_lat, max_lat),
            Facility.min_lng.between(min_lng, max_lng),
        ]
    return [
        Facility.min_lat.between(min_lat - MAX_SPAN_DEG, max_lat),
        Facility.min_lng.between(min_lng - MAX_SPAN_DEG, max_lng),
        Facility.max_lat >= min_lat,
        Facility.max_lng >= min_lng,
    ]


@lru_cache(maxsize=8)
def _box_query(by_state: bool, by_type: bool) -> CompoundSelect:
    """Build the box query once per filter set, its values bound at execution, so that
    SQLAlchemy compiles it once (a map pans by the second): the points, then the lines.
    The types' geometry kind is read in the same query (the type table drives the join, each
    type then a band of the (type, min_lat, min_lng) index)."""
    box = [bindparam(n) for n in ("min_lng", "min_lat", "max_lng", "max_lat")]

    def part(kind: str) -> Select:
        query = (
            select(
                Facility.code.label("code"),
                cast(Facility.geometry, Text).label("geometry"),
                Facility.state.label("state"),
                FacilityType.code.label("type_code"),
                FacilityType.name_zh.label("name_zh"),
                FacilityType.name_en.label("name_en"),
            )
            .join(FacilityType, FacilityType.id == Facility.type_id)
            .where(FacilityType.geometry_kind == kind, *box_filter(kind, *box))
        )
        if by_type:
            query = query.where(FacilityType.id.in_(bindparam("type_ids", expanding=True)))
        return query.where(Facility.state == bindparam("state")) if by_state else query

    return union_all(part("point"), part("line")).limit(bindparam("limit"))


def in_box(
    session: Session,
    bbox: tuple[float, float, float, float],
    type_ids: list[int] | None = None,
    state: str | None = None,
    limit: int = 2000,
) -> tuple[list[Row], bool]:
    """Return the facilities whose box overlaps (min_lng, min_lat, max_lng, max_lat), as rows
    with their public columns (the geometry as JSON text), and whether more were left out."""
    min_lng, min_lat, max_lng, max_lat = bbox
    values = {
        "min_lng": min_lng,
        "min_lat": min_lat,
        "max_lng": max_lng,
        "max_lat": max_lat,
        "limit": limit + 1,
        "type_ids": list(type_ids or []),
        "state": state,
    }
    rows = list(session.execute(_box_query(bool(state), bool(type_ids)), values))
    return rows[:limit], len(rows) > limit


def family(session: Session, type_id: int) -> list[int]:
    """Return the ids of the types a report on this type may name: itself, or every type of
    its family (the covers of all networks)."""
    code = session.scalar(select(FacilityType.code).where(FacilityType.id == type_id))
    codes = next((f for f in FAMILIES if code in f), None)
    if codes is None:
        return [type_id]
    return list(session.scalars(select(FacilityType.id).where(FacilityType.code.in_(codes))))
