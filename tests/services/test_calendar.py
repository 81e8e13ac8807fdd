"""The working calendar: a year is known once all its official holidays are in; importing
days recomputes the open deadlines they touch, each case in the audit log."""

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.models import AuditEntry, Category, SlaPolicy
from portal.services import calendar
from tests.factories import make_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
FULL_2027 = """date,kind,name
2027-01-01,holiday,元旦
2027-02-06,holiday,春节
2027-04-05,holiday,清明节
2027-05-01,holiday,劳动节
2027-06-09,holiday,端午节
2027-09-15,holiday,中秋节
2027-10-01,holiday,国庆节
"""


def test_a_year_is_known_only_with_all_its_holidays(db):
    calendar.seed_from_package(db.session)
    assert calendar.holidays_missing(db.session, 2026) == []
    assert calendar.missing_year(db.session, date(2026, 11, 29)) == 2027
    calendar.import_csv(db.session, io.StringIO("2027-01-01,holiday,元旦\n"), None)
    assert "春节" in calendar.holidays_missing(db.session, 2027)
    assert (
        calendar.missing_year(db.session, date(2026, 11, 29)) == 2027
    )  # three days are not a year
    assert not calendar.WorkCalendar.load(db.session, date(2027, 1, 1)).knows_year(2027)
    calendar.import_csv(db.session, io.StringIO(FULL_2027), None)
    assert calendar.missing_year(db.session, date(2026, 11, 29)) is None
    assert calendar.WorkCalendar.load(db.session, date(2027, 3, 1)).knows_year(2027)


def test_two_holidays_on_one_day_count_as_both(db):
    rows = FULL_2027.replace("2027-09-15,holiday,中秋节\n", "").replace("国庆节", "国庆节、中秋节")
    calendar.import_csv(db.session, io.StringIO(rows), None)
    assert calendar.holidays_missing(db.session, 2027) == []


def test_the_package_names_are_chinese(db):
    calendar.seed_from_package(db.session)
    from portal.models import CalendarDay

    assert db.session.get(CalendarDay, date(2026, 10, 1)).name == "国庆节"
    assert calendar.chinese_name("Mid-autumn Festival") == "中秋节"


def test_importing_days_recomputes_the_open_deadlines_they_touch(db, reference):
    working = db.session.scalar(
        select(Category).join(SlaPolicy).where(SlaPolicy.working_time).order_by(Category.code)
    )
    reported = datetime(2026, 12, 30, 10, 0, tzinfo=SHANGHAI)
    touched, _ = make_case(db.session, category_code=working.code, now=reported)
    early, _ = make_case(
        db.session,
        category_code=working.code,
        now=datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI),
        position=(30.28, 120.16),
    )
    due, early_due = touched.resolve_due_at, early.resolve_due_at
    imported = calendar.import_csv(db.session, io.StringIO(FULL_2027), None)
    db.session.commit()
    assert imported.days == 7 and imported.moved == [touched]
    assert touched.resolve_due_at > due  # 1 January is a holiday now
    assert early.resolve_due_at == early_due
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "case.deadlines_recomputed")
    )
    assert entry.object_id == touched.number
    assert entry.before["resolve_due_at"] != entry.after["resolve_due_at"]
    db.session.expire(touched, ["events"])
    assert "deadlines_recomputed" in [e.kind for e in touched.events]
