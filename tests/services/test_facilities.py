"""Reports on a facility: nearby facilities, naming one on a case, the repeat flag, and a
facility's state following its cases."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import Department, FacilityStateChange, utcnow
from portal.services import facilities, workflow
from portal.services.photos import PhotoStore
from tests.factories import (
    CENTRE,
    bind_category,
    make_case,
    make_facility,
    make_user,
)

LAT, LNG = CENTRE
# About 11 m of latitude.
STEP = 0.0001


@pytest.fixture
def lamps(db, reference):
    """Street lights north of the centre at 11, 33, 66 and 220 m, and a cover next to it."""
    bind_category(db.session, "0301", "0129", "damaged")
    return {
        "near": make_facility(db.session, (LAT + STEP, LNG), code="L-NEAR"),
        "mid": make_facility(db.session, (LAT + 3 * STEP, LNG), code="L-MID"),
        "far": make_facility(db.session, (LAT + 6 * STEP, LNG), code="L-FAR"),
        "away": make_facility(db.session, (LAT + 20 * STEP, LNG), code="L-AWAY"),
        "cover": make_facility(db.session, (LAT, LNG + STEP), "0103", code="C-NEXT"),
    }


@pytest.fixture
def people(db, reference):
    light = db.session.scalar(select(Department).where(Department.code == "LIGHT"))
    return {
        "dispatcher": make_user(db.session, "dispatcher"),
        "handler": make_user(db.session, "handler", department=light),
        "light": light,
    }


def test_nearby_lists_a_types_facilities_in_the_radius_nearest_first(db, lamps):
    type_id = lamps["near"].type_id
    found = facilities.nearby(db.session, type_id, LAT, LNG, radius_m=150)
    assert [f.code for f, _d in found] == ["L-NEAR", "L-MID", "L-FAR"]
    distances = [d for _f, d in found]
    assert distances == sorted(distances)
    assert 10 < distances[0] < 12.5
    assert [f.code for f, _d in facilities.nearby(db.session, type_id, LAT, LNG, limit=2)] == [
        "L-NEAR",
        "L-MID",
    ]
    assert facilities.nearby(db.session, type_id, LAT, LNG, radius_m=5) == []


def test_nearby_leaves_out_abandoned_ones_and_measures_lines_to_their_nearest_part(db, lamps):
    lamps["near"].state = "abandoned"
    db.session.commit()
    type_id = lamps["near"].type_id
    assert "L-NEAR" not in [f.code for f, _d in facilities.nearby(db.session, type_id, LAT, LNG)]
    # A road segment passing 22 m south of the point, its ends far east and west.
    road = make_facility(
        db.session, (LAT - 2 * STEP, LNG - 0.003), "0201", line_to=(LAT - 2 * STEP, LNG + 0.003)
    )
    [(found, distance)] = facilities.nearby(db.session, road.type_id, LAT, LNG, radius_m=50)
    assert found.code == road.code and 20 < distance < 24


def test_nearby_of_nonsense_is_empty(db, lamps):
    type_id = lamps["near"].type_id
    assert facilities.nearby(db.session, type_id, 91.0, LNG) == []
    assert facilities.nearby(db.session, type_id, float("nan"), LNG) == []
    assert facilities.nearby(db.session, 10**9, LAT, LNG) == []


def test_a_case_names_a_facility_of_its_categorys_type_near_its_pin(db, lamps):
    case, _ = make_case(db.session, category_code="0301", position=CENTRE, facility=lamps["mid"])
    assert case.facility == lamps["mid"]
    assert (case.lat, case.lng) == (lamps["mid"].lat, lamps["mid"].lng)  # the pin snaps
    category = case.category
    with pytest.raises(facilities.FacilityError) as wrong_type:
        facilities.check_pick(db.session, category, "C-NEXT", LAT, LNG)
    assert wrong_type.value.code == "type"
    with pytest.raises(facilities.FacilityError) as far:
        facilities.check_pick(db.session, category, "L-AWAY", LAT - 0.001, LNG)
    assert far.value.code == "far"
    with pytest.raises(facilities.FacilityError) as unknown:
        facilities.check_pick(db.session, category, "NOPE" * 20, LAT, LNG)
    assert unknown.value.code == "unknown"
    unbound, _ = make_case(db.session, category_code="0101", position=(LAT - 0.0008, LNG))
    with pytest.raises(facilities.FacilityError) as no_type:
        facilities.attach(db.session, unbound, lamps["near"], utcnow())
    assert no_type.value.code == "unbound" and unbound.facility is None


def test_the_repeat_flag_needs_n_cases_within_d_days(app, db, lamps):
    app.config.update(FACILITY_REPEAT_COUNT=3, FACILITY_REPEAT_DAYS=90)
    lamp, now = lamps["near"], utcnow()
    make_case(db.session, category_code="0301", facility=lamp, now=now - timedelta(days=91))
    make_case(db.session, category_code="0301", facility=lamp, now=now - timedelta(days=30))
    make_case(db.session, category_code="0301", facility=lamp, now=now - timedelta(days=1))
    assert not facilities.is_repeat(db.session, lamp, now)  # the first is too old
    assert facilities.case_counts(db.session, [lamp.id], now) == {lamp.id: 2}
    third, _ = make_case(db.session, category_code="0301", facility=lamp, now=now)
    assert facilities.is_repeat(db.session, lamp, now)
    [row] = facilities.repeats(db.session, now)
    assert (row.facility, row.cases, row.open_cases) == (lamp, 3, 3)
    assert [tuple(r) for r in db.session.execute(facilities.repeat_ids(now))] == [(lamp.id, 3)]
    # A refused case does not count; a lower threshold does.
    third.state = "rejected"
    db.session.commit()
    assert not facilities.is_repeat(db.session, lamp, now)
    app.config["FACILITY_REPEAT_COUNT"] = 2
    assert facilities.is_repeat(db.session, lamp, now)
    assert not facilities.is_repeat(db.session, lamps["mid"], now)


def test_a_cover_is_missing_while_its_case_is_open_and_intact_once_verified(app, db, people):
    bind_category(db.session, "0401", "0103", "missing")
    cover = make_facility(db.session, CENTRE, "0103")
    d, h, now = people["dispatcher"], people["handler"], utcnow()
    case, _ = make_case(db.session, category_code="0401", facility=cover, now=now)
    assert cover.state == "missing"
    workflow.accept(db.session, case, d, "urgent", now)
    workflow.route(db.session, case, d, people["light"], now)
    workflow.start(db.session, case, h, now)
    store = PhotoStore(app.config["UPLOAD_DIR"])
    workflow.resolve(db.session, case, h, "已补装井盖。", [], store, now)
    db.session.commit()
    assert cover.state == "missing"  # done, not yet verified
    workflow.close(db.session, case, d, "核查通过", now + timedelta(hours=1))
    db.session.commit()
    assert cover.state == "intact"
    changes = db.session.scalars(select(FacilityStateChange).order_by(FacilityStateChange.id)).all()
    assert [(c.from_state, c.to_state, c.case_id) for c in changes] == [
        ("intact", "missing", case.id),
        ("missing", "intact", case.id),
    ]
    assert changes[1].actor_id == d.id
    cases_of, history = facilities.history(db.session, cover)
    assert cases_of == [case] and [c.to_state for c in history] == ["intact", "missing"]


def test_missing_outranks_damaged_and_a_refused_case_restores_the_state(db, people):
    bind_category(db.session, "0401", "0103", "missing")
    bind_category(db.session, "0402", "0103", "damaged")
    cover = make_facility(db.session, CENTRE, "0103")
    d, now = people["dispatcher"], utcnow()
    broken, _ = make_case(db.session, category_code="0402", facility=cover, now=now)
    assert cover.state == "damaged"
    gone, _ = make_case(db.session, category_code="0401", facility=cover, now=now)
    assert cover.state == "missing"
    workflow.reject(db.session, gone, d, "现场核实井盖还在。", now)
    db.session.commit()
    assert cover.state == "damaged"  # the broken-cover case is still open
    workflow.reject(db.session, broken, d, "重复上报。", now)
    db.session.commit()
    assert cover.state == "intact"  # as before any case


def test_reclassifying_a_case_away_from_the_type_lets_its_facility_go(db, people):
    bind_category(db.session, "0401", "0103", "missing")
    cover = make_facility(db.session, CENTRE, "0103")
    d, now = people["dispatcher"], utcnow()
    case, _ = make_case(db.session, category_code="0401", facility=cover, now=now)
    from tests.factories import category

    workflow.set_category(db.session, case, d, category(db.session, "0101"), now)
    db.session.commit()
    assert case.facility is None and cover.state == "intact"


def test_a_held_case_moves_nothing_until_released(db, people):
    from portal.services import review

    bind_category(db.session, "0401", "0103", "missing")
    cover = make_facility(db.session, CENTRE, "0103")
    now = utcnow()
    case, _ = make_case(db.session, category_code="0401", facility=cover, held=True, now=now)
    assert cover.state == "intact"
    review.release_case(db.session, people["dispatcher"], case, now)
    db.session.commit()
    assert cover.state == "missing"
