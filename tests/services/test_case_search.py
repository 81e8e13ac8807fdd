"""The back-office queue: each filter, and a handler's view of their department only."""

from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import shape
from sqlalchemy import select

from portal.models import Case, Department, Zone, utcnow
from portal.services import case_search, workflow
from portal.services.case_search import QueueFilters
from tests.factories import make_case, make_user

TZ = ZoneInfo("Asia/Shanghai")


def inside(db, code: str) -> tuple[float, float]:
    zone = db.session.scalar(select(Zone).where(Zone.code == code))
    point = shape(zone.geometry).representative_point()
    return point.y, point.x


@pytest.fixture
def cases(db, reference):
    """Four cases that differ in category, street, department, priority and source."""
    road, drain = (
        db.session.scalar(select(Department).where(Department.code == code))
        for code in ("ROAD", "DRAIN")
    )
    pothole, _ = make_case(db.session, category_code="0101", position=inside(db, "GS-MS"))
    sewer, _ = make_case(db.session, category_code="0201", position=inside(db, "GS-HS"))
    phoned, _ = make_case(
        db.session, category_code="0101", position=inside(db, "GS-HS"), source="phone"
    )
    urgent, _ = make_case(db.session, category_code="0201", position=inside(db, "GS-MS"))
    pothole.department, phoned.department = road, road
    sewer.department, urgent.department = drain, drain
    urgent.priority = "urgent"
    db.session.commit()
    return {"pothole": pothole, "sewer": sewer, "phoned": phoned, "urgent": urgent}


def found(db, user, **filters) -> set[str]:
    query = case_search.queue_filtered(select(Case), user, QueueFilters(**filters), utcnow(), TZ)
    return {c.number for c in db.session.scalars(query).unique()}


def numbers(cases, *names) -> set[str]:
    return {cases[n].number for n in names}


def test_each_queue_filter_narrows_to_the_matching_cases(db, cases):
    dispatcher = make_user(db.session, "dispatcher")
    assert found(db, dispatcher) == numbers(cases, "pothole", "sewer", "phoned", "urgent")
    assert found(db, dispatcher, category="0101") == numbers(cases, "pothole", "phoned")
    assert found(db, dispatcher, zone="GS-HS") == numbers(cases, "sewer", "phoned")
    assert found(db, dispatcher, department="DRAIN") == numbers(cases, "sewer", "urgent")
    assert found(db, dispatcher, priority="urgent") == numbers(cases, "urgent")
    assert found(db, dispatcher, source="phone") == numbers(cases, "phoned")
    assert found(db, dispatcher, category="0101", zone="GS-HS") == numbers(cases, "phoned")


def test_a_handler_sees_only_their_departments_cases(db, cases):
    drain = db.session.scalar(select(Department).where(Department.code == "DRAIN"))
    handler = make_user(db.session, "handler", department=drain)
    assert found(db, handler) == numbers(cases, "sewer", "urgent")
    assert found(db, handler, department="ROAD") == set()


def test_similar_cases_are_same_category_within_50_m_and_90_days(db, reference):
    from datetime import timedelta

    here = (30.2741, 120.1551)
    case, _ = make_case(db.session, category_code="0101", position=here)
    near, _ = make_case(db.session, category_code="0101", position=(30.27440, 120.1551))  # 33 m
    far, _ = make_case(db.session, category_code="0101", position=(30.27480, 120.1551))  # 77 m
    other, _ = make_case(db.session, category_code="0201", position=here)
    old, _ = make_case(db.session, category_code="0101", position=here)
    old.created_at = case.created_at - timedelta(days=91)
    db.session.commit()
    assert [c.number for c in workflow.similar(db.session, case)] == [near.number]
    assert far.number and other.number  # made, and left out
