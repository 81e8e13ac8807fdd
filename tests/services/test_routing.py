"""Routing: the most specific rule wins (category over group, smaller zone over larger)."""

from shapely.geometry import shape
from sqlalchemy import select

from portal.models import CategoryGroup, Department, RoutingRule, Zone
from portal.services import routing
from tests.factories import make_case


def inside(db, code: str) -> tuple[float, float]:
    zone = db.session.scalar(select(Zone).where(Zone.code == code))
    point = shape(zone.geometry).representative_point()
    return point.y, point.x


def department(db, code: str) -> Department:
    return db.session.scalar(select(Department).where(Department.code == code))


def grids_of(db, street: str) -> list[Zone]:
    parent = db.session.scalar(select(Zone).where(Zone.code == street))
    return db.session.scalars(select(Zone).where(Zone.parent_id == parent.id)).all()


def routed(db, category: str, position: tuple[float, float]) -> str | None:
    case, _ = make_case(db.session, category_code=category, position=position)
    found = routing.suggest(db.session, case)
    return found.code if found else None


def test_a_group_rule_in_a_street_beats_the_group_rule_for_the_district(db, reference):
    # Demo rules: manhole covers (04) go to ROAD, but to DRAIN in Hushu street (GS-HS).
    assert routed(db, "0402", inside(db, "GS-MS")) == "ROAD"
    assert routed(db, "0402", inside(db, "GS-HS")) == "DRAIN"


def test_a_category_rule_beats_a_group_rule_even_in_a_smaller_zone(db, reference):
    # A missing cover (0401) is an emergency anywhere, Hushu street included.
    assert routed(db, "0401", inside(db, "GS-HS")) == "EMERG"


def test_a_grid_cell_beats_its_street(db, reference):
    cell, other_cell = grids_of(db, "GS-HS")[:2]
    covers = db.session.scalar(select(CategoryGroup).where(CategoryGroup.code == "04"))
    db.session.add(
        RoutingRule(group_id=covers.id, zone_id=cell.id, department=department(db, "BRIDGE"))
    )
    db.session.commit()
    assert routed(db, "0402", inside(db, cell.code)) == "BRIDGE"
    assert routed(db, "0402", inside(db, other_cell.code)) == "DRAIN"  # the street's rule


def test_outside_every_zone_only_rules_without_a_zone_apply(db, reference):
    far_away = (31.9, 118.8)
    assert routed(db, "0402", far_away) == "ROAD"
    assert routed(db, "0401", far_away) == "EMERG"
