"""The demo district looks like a real one and loads once."""

from collections import Counter
from datetime import timedelta

import pytest
from shapely.geometry import Point, shape
from sqlalchemy import func, select

from portal.models import Case, Category, Zone, utcnow
from portal.services import demo, routing
from portal.services.photos import PhotoStore


@pytest.fixture
def loaded(app, db):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    added, logins = demo.load(db.session, store, now=utcnow())
    db.session.commit()
    return added, store, logins


def test_loads_once(db, loaded):
    added, store, _ = loaded
    assert added["cases"] >= 60 and added["categories"] >= 30
    assert added["category questions"] >= 10  # the Open311 service attributes
    total = db.session.scalar(select(func.count()).select_from(Case))
    assert demo.load(db.session, store, now=utcnow()) == ({}, [])
    assert db.session.scalar(select(func.count()).select_from(Case)) == total


def test_categories_follow_the_standard(db, loaded):
    categories = db.session.scalars(select(Category)).all()
    assert len(categories) >= 30
    assert {c.kind for c in categories} == {"component", "event"}
    assert all(c.name_zh and c.name_en and c.code[:2] == c.group.code for c in categories)
    assert any(c.major_hazard for c in categories)
    assert len({c.group.code for c in categories}) >= 8


def test_cases_cover_every_state_over_six_months(db, loaded):
    cases = db.session.scalars(select(Case).order_by(Case.created_at)).all()
    states = Counter(c.state for c in cases)
    assert all(
        states[s] >= 3
        for s in (
            "submitted",
            "accepted",
            "dispatched",
            "in_progress",
            "resolved",
            "closed",
            "rejected",
            "duplicate",
        )
    )
    now = utcnow()
    assert all(now - timedelta(days=184) <= c.created_at <= now for c in cases)
    assert len({c.number for c in cases}) == len(cases)
    # Residents' cases are numbered as they came in (supervisors' findings were loaded after).
    numbers = [c.number for c in cases if c.source != "inspection"]
    assert numbers == sorted(numbers)


def test_timelines_are_chronological_and_end_in_the_case_state(db, loaded):
    for case in db.session.scalars(select(Case)):
        times = [e.created_at for e in case.events]
        assert times == sorted(times)
        last_state = [e.to_state for e in case.events if e.to_state][-1]
        assert last_state == case.state
        if case.state in ("dispatched", "in_progress", "resolved", "closed"):
            assert case.department is not None
        if case.state == "duplicate":
            assert case.merged_into is not None


def test_every_case_lies_in_one_grid_cell(db, loaded):
    cells = db.session.scalars(select(Zone).where(Zone.level == "grid")).all()
    assert len(cells) == 16
    for cell in cells:
        assert shape(cell.parent.geometry).buffer(1e-9).contains(shape(cell.geometry))
    for case in db.session.scalars(select(Case)):
        point = Point(case.lng, case.lat)
        inside = [c for c in cells if shape(c.geometry).covers(point)]
        assert len(inside) >= 1 and case.zone in inside


def test_photos_are_stored(db, loaded):
    _, store, _ = loaded
    photos = [p for c in db.session.scalars(select(Case)) for p in c.photos]
    assert len(photos) >= 20
    assert all(store.exists(p.sha256) for p in photos)


def test_routing_prefers_the_most_specific_rule(db, loaded):
    cover = db.session.scalars(select(Case).join(Case.category).where(Category.code == "0401"))
    for case in cover:
        assert routing.suggest(db.session, case).code == "EMERG"


def test_one_account_per_seat_with_working_passwords(db, loaded):
    from portal.models import User
    from portal.services import accounts

    *_, logins = loaded
    roles = [role for _, role, _ in logins]
    assert {"admin", "dispatcher", "supervisor"} <= set(roles) and roles.count("handler") >= 6
    for email, _, password in logins:
        user = db.session.scalar(select(User).where(User.email == email))
        assert accounts.check_password(user, password)
    closed = db.session.scalars(select(Case).where(Case.state == "closed")).all()
    assert all(e.actor is not None for c in closed for e in c.events if e.kind == "closed")


def test_works_supervisors_and_the_lists(db, loaded):
    from portal.models import Contractor, Inspection, ListEntry, Project, SpotCheckRound

    added, *_ = loaded
    assert added["projects"] == 12 and added["contractors"] == 5
    assert (
        db.session.scalar(select(func.count()).select_from(Project).where(Project.active_site)) == 9
    )
    assert db.session.scalar(select(func.count()).select_from(SpotCheckRound)) == 3
    reports = db.session.scalars(select(Inspection)).all()
    assert len(reports) >= 10 and any(r.off_site for r in reports)
    assert any(r.verdict == "fail" for r in reports) and any(r.verdict == "pass" for r in reports)
    findings = db.session.scalars(select(Case).where(Case.source == "inspection")).all()
    assert findings and all(c.project_id for c in findings)
    assert any(c.state == "closed" for c in findings)
    entries = db.session.scalars(select(ListEntry)).all()
    assert {e.kind for e in entries} >= {"black"} and all(e.reason for e in entries)
    assert all(e.confirmed_at for e in entries)
    assert db.session.scalar(select(func.count()).select_from(Contractor)) == 5
