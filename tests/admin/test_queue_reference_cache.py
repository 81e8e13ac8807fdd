"""The worker's copy of the reference data the queue page reads (services/reference.py):
every change staff make shows on the next page, in this worker and in any other."""

from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select, update

from portal.extensions import db as _db
from portal.models import (
    CalendarDay,
    Category,
    Department,
    RoutingRule,
    SlaPolicy,
    Zone,
    utcnow,
)
from portal.services import calendar, routing, workflow
from portal.services import reference as reference_cache
from tests.conftest import make_app
from tests.factories import make_case, make_user


@pytest.fixture
def road(db, reference):
    return db.session.scalar(select(Department).where(Department.code == "ROAD"))


def queue(client, view="todo") -> str:
    return client.get(f"/admin/?view={view}").get_data(as_text=True)


def a_district(db) -> Zone:
    return db.session.scalars(select(Zone).where(Zone.level != "grid").order_by(Zone.id)).first()


def test_names_staff_change_show_on_the_next_page(client, db, login_as, road):
    case, _ = make_case(db.session, category_code="0101")
    login_as("dispatcher")
    zone = a_district(db)
    page = queue(client)
    assert case.number in page and case.category.name_zh in page and zone.name_zh in page
    case.category.name_zh = "改名的类别"
    road.name_zh = "改名的部门"
    zone.name_zh = "改名的片区"
    db.session.commit()
    page = queue(client)
    assert "改名的类别" in page and "改名的部门" in page and "改名的片区" in page
    # A statement (not a flush) changing a reference table counts as well.
    db.session.execute(update(Department).where(Department.id == road.id).values(name_zh="再改"))
    db.session.commit()
    page = queue(client)
    assert "再改" in page and "改名的部门" not in page


def test_a_change_made_by_another_worker_shows_here(client, db, login_as, road, migrated, tmp_path):
    login_as("dispatcher")
    assert road.name_zh in queue(client)  # this worker keeps its copy now
    other = make_app(migrated, tmp_path / "other-uploads")  # another process or node
    with other.app_context():
        _db.session.execute(
            update(Department).where(Department.code == "ROAD").values(name_zh="别处改名")
        )
        _db.session.commit()
        _db.session.remove()
        _db.engine.dispose()  # its own pool: no connection left open after the test
    assert "别处改名" in queue(client)


def test_a_new_or_deleted_department_changes_the_lists(client, db, login_as, road):
    login_as("dispatcher")
    assert "新部门" not in queue(client)
    db.session.add(Department(code="NEW", name_zh="新部门", name_en="New"))
    db.session.commit()
    assert "新部门" in queue(client)
    db.session.execute(delete(Department).where(Department.code == "NEW"))
    db.session.commit()
    assert "新部门" not in queue(client)


def test_a_policy_changed_to_calendar_time_changes_the_countdown(client, db, login_as, road):
    (case, _) = make_case(db.session, category_code="0101")
    someone = make_user(db.session, "dispatcher")
    now = utcnow()
    workflow.accept(db.session, case, someone, case.priority, now)
    workflow.route(db.session, case, someone, road, now)
    db.session.commit()
    login_as("handler", department=road)
    policy = db.session.get(SlaPolicy, case.category.sla_policy_id)
    assert policy.working_time
    assert "工作小时" in queue(client)
    policy.working_time = False
    db.session.commit()
    page = queue(client)
    assert case.number in page and "工作小时" not in page


def test_holidays_entered_or_removed_show_in_the_calendar_warning(client, db, login_as, road):
    login_as("admin")
    year = utcnow().year
    before = _banner(queue(client))
    assert str(year) not in before  # this year's holidays are entered
    this_year = select(CalendarDay).where(CalendarDay.day >= date(year, 1, 1))
    kept = [(d.day, d.kind, d.name) for d in db.session.scalars(this_year)]
    db.session.execute(delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1)))
    db.session.commit()
    assert str(year) in _banner(queue(client))
    db.session.add_all(CalendarDay(day=day, kind=kind, name=name) for day, kind, name in kept)
    db.session.commit()
    assert _banner(queue(client)) == before


def _banner(page: str) -> str:
    start = page.find('<p class="flash error" role="alert">')
    return "" if start < 0 else page[start : page.find("</p>", start)]


def test_the_copy_suggests_as_the_rules_do_before_and_after_a_new_rule(app, db, reference):
    with app.test_request_context():
        categories = db.session.scalars(select(Category)).all()
        zones = db.session.scalars(select(Zone)).all()

        def same() -> None:
            ref = reference_now(db)
            for category in categories:
                for zone in zones:
                    expected = routing.for_place(db.session, category, zone)
                    got = ref.suggest(category.id, zone.id)
                    assert (got.id if got else None) == (expected.id if expected else None)

        same()
        target = db.session.scalar(select(Department).where(Department.code != "ROAD"))
        db.session.add(
            RoutingRule(category_id=categories[0].id, zone_id=zones[-1].id, department=target)
        )
        db.session.commit()
        ref = reference_now(db)
        assert ref.suggest(categories[0].id, zones[-1].id).id == target.id
        same()


def reference_now(db):
    from flask import g

    g.pop(reference_cache.VERSION, None)  # a new request
    return reference_cache.current(db.session)


def test_an_uncommitted_change_is_read_but_never_kept(app, db, reference):
    with app.test_request_context():
        category = db.session.scalars(select(Category).order_by(Category.code)).first()
        old = category.name_zh
        assert reference_now(db).categories_by_id[category.id].name_zh == old
        category.name_zh = "未提交"
        db.session.flush()
        assert reference_now(db).categories_by_id[category.id].name_zh == "未提交"
        db.session.rollback()
        assert reference_now(db).categories_by_id[category.id].name_zh == old
        kept = app.extensions[reference_cache.EXTENSION]
        assert kept.categories_by_id[category.id].name_zh == old


def test_the_calendar_copy_answers_as_the_table_does(app, db, reference):
    today = utcnow().date()
    with app.test_request_context():
        ref = reference_now(db)
        for year_start in (date(today.year, 1, 1), date(today.year + 1, 11, 15)):
            assert ref.missing_year(year_start) == calendar.missing_year(db.session, year_start)
        start = today - timedelta(days=40)
        loaded = calendar.WorkCalendar.load(db.session, start, 120)
        assert ref.calendar(start, 120) == loaded
