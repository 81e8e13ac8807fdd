"""The demo district's facility inventory (部件): its streets' lamps, inlets, covers of every
network, hydrants, road segments, bridges, signs and bus shelters, deterministic and
inserted in bulk; the demo categories bound to their types; demo cases on facilities,
one lamp failing again and again.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.models import Case, Category, Department, Facility, FacilityType
from portal.services import demo_data, facilities, facility_register, geo

M_LAT = geo.METERS_PER_DEGREE
M_LNG = geo.METERS_PER_DEGREE * 0.8637  # cos(30.275°)
WEST, EAST, SOUTH, NORTH = 120.1310, 120.1790, 30.2605, 30.2895
# The street grid: east-west roads by latitude, north-south roads by longitude.
EAST_WEST = (30.2625, 30.2675, 30.2725, 30.2775, 30.2825, 30.2875)
NORTH_SOUTH = (120.1345, 120.1420, 120.1495, 120.1570, 120.1645, 120.1720, 120.1775)
# (type code, spacing range in metres, offsets from the centre line in metres)
ALONG = [
    ("0129", (30, 40), (-12, 12)),  # street lights on both sides
    ("0104", (40, 50), (-8, 8)),  # rain inlets at both kerbs
    ("0103", (55, 65), (-2,)),  # storm drain covers
    ("0102", (75, 85), (2,)),  # sewer covers
    ("0101", (110, 130), (-5,)),  # water supply covers
    ("0106", (140, 160), (5,)),  # power covers
    ("0108", (140, 160), (-6,)),  # telecom covers
    ("0112", (190, 210), (6,)),  # gas covers
    ("0116", (110, 130), (10,)),  # fire hydrants
]
# Bridges over the canals (lng, lat, name), and the types' owners where no rule names one.
BRIDGES = [
    (120.1532, 30.2775, "沈塘桥"),
    (120.1608, 30.2825, "大关桥"),
    (120.1420, 30.2698, "米市巷桥"),
    (120.1720, 30.2650, "湖墅桥"),
]
DEFAULT_OWNERS = {
    "0101": "ROAD",
    "0102": "DRAIN",
    "0103": "DRAIN",
    "0104": "DRAIN",
    "0106": "ROAD",
    "0108": "ROAD",
    "0112": "ROAD",
    "0116": "EMERG",
    "0129": "LIGHT",
    "0201": "ROAD",
    "0204": "BRIDGE",
    "0208": "TRAFFIC",
    "0210": "TRAFFIC",
    "0212": "TRAFFIC",
    "0401": "ROAD",
}
# Demo category → the facility type a report of it names.
BINDINGS = {
    "0201": "0104",  # 雨水口堵塞 → 雨水篦子
    "0301": "0129",  # 路灯不亮 → 路灯
    "0302": "0129",
    "0303": "0129",
    "0401": "0103",  # 井盖缺失 → the covers (of every network, see FAMILIES)
    "0402": "0103",
    "0403": "0103",
    "0404": "0103",
    "0501": "0204",  # 桥梁栏杆损坏 → 桥梁
    "0502": "0204",
    "0601": "0208",  # 交通标志损坏 → 交通标志牌
}
STATES = ["intact"] * 194 + ["damaged"] * 3 + ["missing", "occupied", "abandoned"]
CHUNK = 2000


def _roads() -> Iterator[tuple[str, tuple[float, float], tuple[float, float]]]:
    """Yield each road's name and its two ends as (lng, lat)."""
    names = iter(demo_data.ROADS)
    for lat in EAST_WEST:
        yield next(names), (WEST, lat), (EAST, lat)
    for lng in NORTH_SOUTH:
        yield next(names, "支路"), (lng, SOUTH), (lng, NORTH)


def _at(start, end, metres: float, offset: float) -> tuple[float, float]:
    """Return (lng, lat) `metres` along a straight road from its start, `offset` to its left."""
    east_west = start[1] == end[1]
    if east_west:
        return start[0] + metres / M_LNG, start[1] + offset / M_LAT
    return start[0] - offset / M_LNG, start[1] + metres / M_LAT


def _length(start, end) -> float:
    return abs(end[0] - start[0]) * M_LNG + abs(end[1] - start[1]) * M_LAT


def _plan(rng: random.Random) -> Iterator[tuple[str, dict, str, str]]:
    """Yield (type code, geometry, name, address) of every facility of the district."""
    for road, start, end in _roads():
        length = _length(start, end)
        for code, (low, high), offsets in ALONG:
            for k, offset in enumerate(offsets):
                metres = rng.uniform(0, low) + k * low / 2
                while metres < length:
                    lng, lat = _at(start, end, metres, offset)
                    side = "北侧" if offset > 0 else "南侧"
                    if start[1] != end[1]:
                        side = "西侧" if offset > 0 else "东侧"
                    point = {"type": "Point", "coordinates": [round(lng, 7), round(lat, 7)]}
                    yield code, point, "", f"{road}{side}约{int(metres)}米"
                    metres += rng.uniform(low, high)
        # Road segments between crossings.
        crossings = NORTH_SOUTH if start[1] == end[1] else EAST_WEST
        cuts = [start[0] if start[1] == end[1] else start[1], *crossings]
        cuts.append(end[0] if start[1] == end[1] else end[1])
        for n, (a, b) in enumerate(itertools.pairwise(cuts), start=1):
            if start[1] == end[1]:
                line = [[round(a, 7), start[1]], [round(b, 7), start[1]]]
            else:
                line = [[start[0], round(a, 7)], [start[0], round(b, 7)]]
            yield "0201", {"type": "LineString", "coordinates": line}, f"{road}第{n}段", road
    for lng, lat in ((x, y) for x in NORTH_SOUTH for y in EAST_WEST):
        # A sign at each crossing, a bus shelter at every third.
        sign = {"type": "Point", "coordinates": [round(lng + 15 / M_LNG, 7), round(lat, 7)]}
        yield "0208", sign, "", "路口"
        if rng.random() < 0.34:
            shelter = {"type": "Point", "coordinates": [round(lng + 40 / M_LNG, 7), lat]}
            yield "0212", shelter, "", "公交站"
    for lng, lat, name in BRIDGES:
        yield "0204", {"type": "Point", "coordinates": [lng, lat]}, name, name


def bind_categories(session: Session) -> None:
    """Bind the demo categories to their facility types and give the types their owners."""
    types = {t.code: t for t in session.scalars(select(FacilityType))}
    departments = {d.code: d.id for d in session.scalars(select(Department))}
    for code, department in DEFAULT_OWNERS.items():
        if code in types and types[code].department_id is None:
            types[code].department_id = departments.get(department)
    for category in session.scalars(select(Category).where(Category.code.in_(BINDINGS))):
        category.facility_type_id = types[BINDINGS[category.code]].id
    session.flush()


def load_inventory(session: Session, seed: int = 2026) -> int:
    """Insert the district's facilities in bulk; return how many."""
    rng = random.Random(seed + 15)
    types = {t.code: t for t in session.scalars(select(FacilityType))}
    locator = facility_register.Locator(session)
    serials = facility_register.Serials(session)
    rows: list[dict] = []
    total = 0
    for code, geometry, name, address in _plan(rng):
        kind = types[code]
        placement = facility_register.place(geometry, kind.geometry_kind)
        rows.append(
            {
                "code": serials.next(kind),
                "type_id": kind.id,
                "name": name,
                "address": address,
                "state": rng.choice(STATES),
                "installed_on": date(rng.randint(2005, 2024), rng.randint(1, 12), 1),
                "attributes": {},
                **placement.columns(),
                **locator.columns(kind, placement),
            }
        )
        if len(rows) >= CHUNK:
            session.execute(insert(Facility), rows)
            total, rows = total + len(rows), []
    if rows:
        session.execute(insert(Facility), rows)
        total += len(rows)
    return total


def attach_cases(session: Session, radius_m: float = 400) -> int:
    """Put each demo case of a bound category on the nearest facility of its type, its pin
    moved onto it as the report form's pick would; return how many."""
    attached = 0
    for case in session.scalars(
        select(Case)
        .join(Case.category)
        .where(Category.facility_type_id.is_not(None), Case.facility_id.is_(None))
        .order_by(Case.id)
    ):
        found = facilities.nearby(
            session, case.category.facility_type_id, case.lat, case.lng, radius_m, limit=1
        )
        if not found:
            continue
        facility = found[0][0]
        case.facility_id = facility.id
        case.lat, case.lng = facility.lat, facility.lng
        case.zone = geo.zone_for_point(session, facility.lat, facility.lng)
        attached += 1
    session.flush()
    return attached


def load_repeat_failures(session: Session, now: datetime, days: int = 90) -> int:
    """Put three demo cases of the last `days` on one facility: the repeated failure staff
    must see. The lamps' cases are taken if there are three, else the covers' (two finished
    ones first, then an open one, as failures follow repairs); return how many."""
    since = now - timedelta(days=days)
    for code in ("0129", "0103", "0104"):
        kind = session.scalar(select(FacilityType).where(FacilityType.code == code))
        recent = session.scalars(
            select(Case)
            .join(Case.category)
            .where(Category.facility_type_id == kind.id, Case.created_at >= since)
            .order_by(Case.created_at)
        ).all()
        finished = [c for c in recent if not c.is_open]
        ongoing = [c for c in recent if c.is_open]
        chosen = (finished[-2:] + ongoing[:1]) if ongoing else finished[-3:]
        chosen += [c for c in recent if c not in chosen][: 3 - len(chosen)]
        if len(chosen) < 3:
            continue
        target = session.scalar(
            select(Facility)
            .where(Facility.type_id == kind.id)
            .order_by(Facility.code)
            .offset(20)
            .limit(1)
        )
        for case in chosen:
            case.lat, case.lng, case.facility_id = target.lat, target.lng, target.id
            case.zone = geo.zone_for_point(session, target.lat, target.lng)
            case.address = target.address
        session.flush()
        return len(chosen)
    return 0


def load_facilities(session: Session, now: datetime, seed: int = 2026) -> dict[str, int]:
    """Load the inventory, bind the categories, and attach the demo cases; return counts."""
    bind_categories(session)
    added = {"facilities": load_inventory(session, seed)}
    added["repeated failures"] = load_repeat_failures(session, now)
    added["cases on facilities"] = attach_cases(session) + added["repeated failures"]
    return added
