"""The facility register: codes, owners and grid cells from the zones, and nearby lookups."""

import pytest
from sqlalchemy import select

from portal.models import Category, Department, Facility, FacilityStateChange, FacilityType, Zone
from portal.services import facilities
from portal.services import facility_register as register
from portal.services.facility_register import FacilityError

LAMP_AT = [120.1400, 30.2650]  # Mishixiang street, grid 1


def kind(db, code: str) -> FacilityType:
    return db.session.scalar(select(FacilityType).where(FacilityType.code == code))


def point(lng: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lng, lat]}


@pytest.fixture
def lamps(db, reference):
    """Bind the street-light categories to the lamp type, as the demo does."""
    lamp = kind(db, "0129")
    for category in db.session.scalars(select(Category).where(Category.code.like("03%"))):
        category.facility_type_id = lamp.id
    db.session.commit()
    return lamp


def test_code_grid_and_owner_come_from_the_district_and_zones(db, lamps):
    facility = register.create(db.session, lamps, point(*LAMP_AT))
    assert facility.code == "3301050129000001"
    assert facility.grid.code == "GS-MS-01" and facility.grid.level == "grid"
    assert facility.department.code == "LIGHT"  # the lighting categories route to it
    second = register.create(db.session, lamps, point(120.1410, 30.2650))
    assert second.code == "3301050129000002"


def test_owner_is_kept_when_the_zones_change(db, lamps):
    facility = register.create(db.session, lamps, point(*LAMP_AT))
    grid_id = facility.grid_id
    cell = db.session.get(Zone, grid_id)
    cell.geometry = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    db.session.commit()
    db.session.refresh(facility)
    assert facility.grid_id == grid_id and facility.department.code == "LIGHT"


def test_majority_of_bound_categories_names_the_owner_and_the_zone_rule_wins(db, reference):
    covers = kind(db, "0103")
    for category in db.session.scalars(select(Category).where(Category.code.like("04%"))):
        category.facility_type_id = covers.id
    db.session.commit()
    # 井盖缺失 goes to the emergency team, the three others to roads: roads own the covers.
    assert register.create(db.session, covers, point(*LAMP_AT)).department.code == "ROAD"
    # In Hushu street the drainage unit owns the covers (a rule for the group and the zone).
    hushu = register.create(db.session, covers, point(0.0 + 120.1700, 30.2650))
    assert hushu.department.code == "DRAIN" and hushu.grid.code.startswith("GS-HS")


def test_type_default_department_when_no_category_is_bound(db, reference):
    hydrant = kind(db, "0116")
    assert register.create(db.session, hydrant, point(*LAMP_AT)).department_id is None
    hydrant.department_id = db.session.scalar(
        select(Department.id).where(Department.code == "EMERG")
    )
    assert register.create(db.session, hydrant, point(120.1420, 30.2660)).department.code == (
        "EMERG"
    )


def test_outside_every_zone_has_no_grid(db, lamps):
    facility = register.create(db.session, lamps, point(116.4, 39.9))
    assert facility.grid_id is None


def test_lines_keep_their_box_and_middle(db, reference):
    road = kind(db, "0201")
    line = {"type": "LineString", "coordinates": [[120.14, 30.27], [120.15, 30.27]]}
    facility = register.create(db.session, road, line)
    assert (facility.min_lng, facility.max_lng, facility.min_lat) == (120.14, 120.15, 30.27)
    assert facility.lng == pytest.approx(120.145) and facility.lat == pytest.approx(30.27)


@pytest.mark.parametrize(
    "type_code, geometry, reason",
    [
        ("0129", {"type": "Polygon", "coordinates": []}, "geometry"),
        ("0129", {"type": "Point", "coordinates": ["x", 30]}, "geometry"),
        ("0129", {"type": "Point", "coordinates": [120.1, 95]}, "geometry"),
        ("0129", {"type": "Point"}, "geometry"),
        (
            "0201",
            {"type": "LineString", "coordinates": [[120.14, 30.27], [120.14, 30.27]]},
            "geometry",
        ),
        ("0201", {"type": "LineString", "coordinates": [[120.14, 30.27]]}, "geometry"),
        (
            "0201",
            {"type": "LineString", "coordinates": [[120.14, 30.27], [120.20, 30.27]]},
            "too_long",
        ),
        (
            "0129",
            {"type": "LineString", "coordinates": [[120.14, 30.27], [120.15, 30.27]]},
            "geometry_kind",
        ),
        ("0129", "not a geometry", "geometry"),
    ],
)
def test_broken_geometries_are_refused(db, lamps, type_code, geometry, reason):
    with pytest.raises(FacilityError) as refused:
        register.create(db.session, kind(db, type_code), geometry)
    assert refused.value.reason == reason
    assert db.session.scalar(select(Facility.id)) is None


def test_codes_are_checked_and_unique(db, lamps):
    register.create(db.session, lamps, point(*LAMP_AT), code="3301050129000042")
    with pytest.raises(FacilityError) as duplicate:
        register.create(db.session, lamps, point(120.141, 30.266), code="3301050129000042")
    assert duplicate.value.reason == "duplicate"
    with pytest.raises(FacilityError) as wrong:
        register.create(db.session, lamps, point(120.141, 30.266), code="3301050103000001")
    assert wrong.value.reason == "code"
    # New serials follow the highest one taken.
    assert register.create(db.session, lamps, point(120.142, 30.266)).code.endswith("000043")


def test_a_new_state_is_kept_in_the_history(db, lamps):
    facility = register.create(db.session, lamps, point(*LAMP_AT))
    assert register.update(db.session, facility, state="damaged", reason="survey")
    assert not register.update(db.session, facility, state="damaged")
    [change] = db.session.scalars(select(FacilityStateChange)).all()
    assert (change.from_state, change.to_state, change.reason) == ("intact", "damaged", "survey")
    with pytest.raises(FacilityError):
        register.update(db.session, facility, state="gone")


def test_a_move_recomputes_the_grid(db, lamps):
    facility = register.create(db.session, lamps, point(*LAMP_AT))
    register.update(db.session, facility, geometry=point(120.1700, 30.2850))
    assert facility.grid.code.startswith("GS-DG") and facility.lat == 30.285


def test_nearby_finds_a_type_nearest_first_within_the_radius(db, lamps):
    serials = register.Serials(db.session)
    locator = register.Locator(db.session)
    made = [
        register.create(
            db.session,
            lamps,
            point(120.1500 + k * 0.0004, 30.2700),
            serials=serials,
            locator=locator,
        )
        for k in range(6)  # about 38 m apart
    ]
    cover = register.create(db.session, kind(db, "0103"), point(120.1500, 30.27001))
    found = facilities.nearby(db.session, lamps.id, 30.2700, 120.15005)
    assert [f.code for f, _ in found] == [made[k].code for k in range(5)]  # the sixth is 188 m away
    assert found[0][1] == pytest.approx(4.8, abs=0.3) and all(d <= 150 for _, d in found)
    assert cover not in [f for f, _ in found]
    assert len(facilities.nearby(db.session, lamps.id, 30.27, 120.15, limit=2)) == 2
    assert facilities.nearby(db.session, lamps.id, 31.0, 121.0) == []
    assert facilities.nearby(db.session, lamps.id, float("nan"), 120.15) == []


def test_nearby_measures_to_a_line(db, reference):
    road = kind(db, "0201")
    register.create(
        db.session,
        road,
        {"type": "LineString", "coordinates": [[120.145, 30.27], [120.154, 30.27]]},
    )
    [(_found, distance)] = facilities.nearby(db.session, road.id, 30.2705, 120.15)
    assert distance == pytest.approx(55.7, abs=1)


def test_box_finds_lines_crossing_it(db, reference):
    road = kind(db, "0201")
    line = {"type": "LineString", "coordinates": [[120.145, 30.27], [120.154, 30.27]]}
    register.create(db.session, road, line)
    rows, truncated = register.in_box(db.session, (120.149, 30.269, 120.150, 30.271))
    assert [r.type_code for r in rows] == ["0201"] and not truncated
    assert register.in_box(db.session, (120.16, 30.269, 120.17, 30.271))[0] == []


def test_a_cover_report_is_offered_the_covers_of_every_network(db, reference):
    storm = register.create(db.session, kind(db, "0103"), point(120.1500, 30.2700))
    gas = register.create(db.session, kind(db, "0112"), point(120.1502, 30.2700))
    register.create(db.session, kind(db, "0104"), point(120.1501, 30.2700))  # an inlet
    found = facilities.nearby(db.session, kind(db, "0103").id, 30.2700, 120.15005)
    assert [f for f, _ in found] == [storm, gas]
