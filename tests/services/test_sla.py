"""Deadlines in working time on the Chinese calendar."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from portal.models import CalendarDay
from portal.services import sla
from portal.services.calendar import WorkCalendar, seed_from_package

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS = sla.OfficeHours.parse("09:00-12:00,13:30-17:30")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_working_minutes_skip_lunch_and_night():
    calendar = WorkCalendar()
    start = local(2026, 11, 24, 11, 0)  # a Tuesday
    assert sla.add_working_minutes(start, 60, calendar, HOURS, SHANGHAI) == local(
        2026, 11, 24, 12, 0
    )
    assert sla.add_working_minutes(start, 90, calendar, HOURS, SHANGHAI) == local(
        2026, 11, 24, 14, 0
    )
    # 7 working hours a day: 60 min before lunch, 240 after, then 120 the next morning.
    assert sla.add_working_minutes(start, 420, calendar, HOURS, SHANGHAI) == local(
        2026, 11, 25, 11, 0
    )


def test_weekend_and_evening_start_count_from_next_working_morning():
    calendar = WorkCalendar()
    friday_evening = local(2026, 11, 27, 20, 0)
    assert sla.add_working_minutes(friday_evening, 30, calendar, HOURS, SHANGHAI) == local(
        2026, 11, 30, 9, 30
    )


def test_holidays_and_make_up_days_from_the_calendar(db):
    seed_from_package(db.session)
    db.session.commit()
    calendar = WorkCalendar.load(db.session, date(2026, 9, 25))
    # National Day 2026: 1-7 October off; Sunday 27 September... check what the package says.
    assert not calendar.is_workday(date(2026, 10, 1))
    assert calendar.knows_year(2026)
    start = local(2026, 9, 30, 17, 0)
    due = sla.add_working_minutes(start, 60, calendar, HOURS, SHANGHAI)
    assert due.date() > date(2026, 10, 7)
    makeups = db.session.query(CalendarDay).filter(CalendarDay.kind == "workday").count()
    assert makeups > 0


def test_missing_year_counts_weekends_only(db):
    seed_from_package(db.session)
    db.session.commit()
    calendar = WorkCalendar.load(db.session, date(2027, 1, 1))
    assert not calendar.knows_year(2027)
    assert calendar.is_workday(date(2027, 1, 4))  # a Monday
    assert not calendar.is_workday(date(2027, 1, 2))  # a Saturday


def test_calendar_time_policy_is_plain_addition(app, db):
    start = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert sla.deadline(db.session, start, 2880, working_time=False) == start + timedelta(hours=48)


def test_clock_status():
    now = datetime(2026, 11, 24, tzinfo=UTC)
    due = now + timedelta(hours=1)
    assert sla.clock_status(due, None, now) == "pending"
    assert sla.clock_status(due, None, now + timedelta(hours=2)) == "overdue"
    assert sla.clock_status(due, now, now) == "kept"
    assert sla.clock_status(due, due + timedelta(seconds=1), now) == "missed"
    assert sla.clock_status(None, None, now) == "none"


def test_a_make_up_saturday_is_a_working_day(db):
    seed_from_package(db.session)
    db.session.commit()
    makeup = (
        db.session.query(CalendarDay)
        .filter(CalendarDay.kind == "workday", CalendarDay.day >= date(2026, 1, 1))
        .order_by(CalendarDay.day)
        .first()
    )
    assert makeup.day.weekday() >= 5  # published make-up days fall on weekends
    calendar = WorkCalendar.load(db.session, makeup.day - timedelta(days=3))
    start = local(makeup.day.year, makeup.day.month, makeup.day.day, 10, 0)
    assert sla.add_working_minutes(start, 60, calendar, HOURS, SHANGHAI) == start + timedelta(
        hours=1
    )


def test_working_minutes_between_counts_office_hours_only(db):
    calendar = WorkCalendar()
    friday_four = local(2026, 11, 27, 16, 0)
    monday_ten = local(2026, 11, 30, 10, 0)
    assert sla.working_minutes_between(friday_four, monday_ten, calendar, HOURS, SHANGHAI) == 150


def test_a_pause_shifts_the_deadline_by_the_working_time_it_lasted(app, db, reference):
    from portal.services import workflow
    from tests.factories import make_case, make_user

    case, _ = make_case(db.session, now=local(2026, 11, 23, 9, 0).astimezone(UTC))  # Monday
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, case.priority, case.created_at)
    due = case.resolve_due_at
    paused = local(2026, 11, 24, 9, 0).astimezone(UTC)
    workflow.ask_info(db.session, case, dispatcher, "请补充照片", paused)
    resumed = local(2026, 11, 26, 9, 0).astimezone(UTC)  # two working days later
    workflow.resume(db.session, case, None, "照片已补充", resumed)
    # Due Friday 27th 17:30; two working days of pause move it over the weekend.
    assert due.astimezone(SHANGHAI) == local(2026, 11, 27, 17, 30)
    assert case.resolve_due_at.astimezone(SHANGHAI) == local(2026, 12, 1, 17, 30)


def test_a_priority_change_keeps_the_pauses_before_it(app, db, reference):
    from portal.services import workflow
    from tests.factories import make_case, make_user

    case, _ = make_case(db.session, now=local(2026, 11, 23, 9, 0).astimezone(UTC))  # Monday
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, case.priority, case.created_at)
    workflow.ask_info(db.session, case, dispatcher, "请补充照片", local(2026, 11, 24, 9, 0))
    workflow.resume(db.session, case, None, "照片已补充", local(2026, 11, 26, 9, 0))
    paused_due, first = case.resolve_due_at, case.priority
    other = next(p for p in ("urgent", "high", "normal", "low") if p != first)
    workflow.set_priority(db.session, case, dispatcher, other, local(2026, 11, 26, 10, 0))
    assert case.resolve_due_at != paused_due
    workflow.set_priority(db.session, case, dispatcher, first, local(2026, 11, 26, 10, 5))
    # Back to the first priority: the same deadline, the two working days of pause kept.
    assert case.resolve_due_at == paused_due
    assert case.resolve_due_at.astimezone(SHANGHAI) == local(2026, 12, 1, 17, 30)


def test_a_priority_change_while_paused_keeps_the_clock_stopped(app, db, reference):
    from portal.services import workflow
    from tests.factories import make_case, make_user

    case, _ = make_case(db.session, now=local(2026, 11, 23, 9, 0).astimezone(UTC))
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, case.priority, case.created_at)
    workflow.ask_info(db.session, case, dispatcher, "请补充照片", local(2026, 11, 24, 9, 0))
    workflow.set_priority(db.session, case, dispatcher, case.priority, local(2026, 11, 24, 10, 0))
    assert case.resolve_check_at is None  # the sweep does not count a paused clock
    workflow.resume(db.session, case, None, "照片已补充", local(2026, 11, 26, 9, 0))
    assert case.resolve_due_at.astimezone(SHANGHAI) == local(2026, 12, 1, 17, 30)
    assert case.resolve_check_at is not None


def test_a_priority_change_after_rework_counts_from_the_rework(app, db, reference):
    from portal.services import workflow
    from tests.factories import make_case, make_user

    case, _ = make_case(db.session, now=local(2026, 11, 2, 9, 0).astimezone(UTC))
    dispatcher = make_user(db.session, "dispatcher")
    case.resolved_at = local(2026, 11, 20, 9, 0)
    case.state = "resolved"
    workflow.rework(db.session, case, dispatcher, "路面仍有坑洞", local(2026, 11, 23, 9, 0))
    reworked_due = case.resolve_due_at
    workflow.set_priority(db.session, case, dispatcher, case.priority, local(2026, 11, 23, 10, 0))
    assert case.resolve_due_at == reworked_due > local(2026, 11, 23, 9, 0)


def test_the_back_office_is_told_which_year_lacks_its_holidays(db):
    from portal.services.calendar import missing_year

    assert missing_year(db.session, date(2026, 3, 1)) == 2026  # nothing entered at all
    seed_from_package(db.session)  # the package knows 2026 but not 2027
    db.session.commit()
    assert missing_year(db.session, date(2026, 3, 1)) is None
    assert missing_year(db.session, date(2026, 10, 31)) is None
    assert missing_year(db.session, date(2026, 11, 1)) == 2027  # published around November
    assert missing_year(db.session, date(2027, 2, 1)) == 2027


def test_findings_get_48_hours_on_a_database_without_demo_data(app, db):
    """The migrations bring the policy of supervisors' findings; categories are the office's."""
    from sqlalchemy import func, select

    from portal.models import (
        CHECKLIST,
        PRIORITIES,
        Category,
        CategoryGroup,
        Contractor,
        Project,
        SlaPolicy,
        SlaTarget,
        utcnow,
    )
    from portal.services import inspections
    from portal.services.photos import PhotoStore
    from tests.factories import jpeg_photo, make_user, on_site

    assert db.session.scalar(select(func.count()).select_from(Category)) == 0  # no demo data
    office = SlaPolicy(code="office", name_zh="本单位时限", name_en="Office", working_time=True)
    office.targets = [
        SlaTarget(priority=p, respond_minutes=420, resolve_minutes=2100) for p in PRIORITIES
    ]
    group = CategoryGroup(code="07", name_zh="施工管理", name_en="Construction sites")
    db.session.add(
        Category(
            code="0703",
            group=group,
            kind="event",
            name_zh="围挡缺失",
            name_en="Missing fence",
            sla_policy=office,
        )
    )
    site = Project(
        code="P-48",
        name="工地",
        lat=30.2741,
        lng=120.1551,
        geometry={"type": "Point", "coordinates": [120.1551, 30.2741]},
        phase="construction",
        active_site=True,
        contractor=Contractor(name="某公司", credit_code="91110000600037341L"),
    )
    db.session.add(site)
    supervisor = make_user(db.session, "supervisor")
    now = utcnow()
    report = inspections.draft(db.session, supervisor, site, "key-48", now)
    answers = {i: {"result": "fail" if i == "fencing" else "pass", "note": ""} for i in CHECKLIST}
    inspections.save(report, answers, on_site(30.2741, 120.1551, at=now), now=now)
    store = PhotoStore(app.config["UPLOAD_DIR"])
    inspections.add_photo(db.session, report, "fencing", jpeg_photo(), store, now)
    [case] = inspections.submit(db.session, report, now)
    assert case.respond_due_at == now + timedelta(hours=48)
    assert case.resolve_due_at == now + timedelta(days=7)


def test_the_countdown_counts_working_time_and_stops_while_paused(app, db, reference):
    from portal.services import workflow
    from tests.factories import make_case, make_user

    case, _ = make_case(db.session, now=local(2026, 11, 23, 9, 0).astimezone(UTC))  # Monday
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, case.priority, case.created_at)
    assert case.resolve_due_at.astimezone(SHANGHAI) == local(2026, 11, 27, 17, 30)
    # Thursday 17:30 to Friday 17:30 is one working day: 7 hours, not 24.
    evening = sla.countdown(db.session, case, local(2026, 11, 26, 17, 30).astimezone(UTC))
    assert (evening.clock, evening.left, evening.late, evening.paused) == ("resolve", 420, 0, False)
    assert evening.due == case.resolve_due_at and evening.working
    late = sla.countdown(db.session, case, local(2026, 11, 30, 10, 0).astimezone(UTC))
    assert late.left == 0 and late.late == 60  # Monday 09:00-10:00 only
    workflow.ask_info(db.session, case, dispatcher, "请补充照片", local(2026, 11, 24, 9, 0))
    for day in (25, 26):  # paused on Tuesday morning: the same time left, however late
        paused = sla.countdown(db.session, case, local(2026, 11, day, 15, 0).astimezone(UTC))
        assert paused.paused and paused.left == 4 * 420


def test_an_approved_extension_adds_working_time_to_the_deadline(app, db, reference):
    from portal.services import workflow
    from tests.factories import make_case, make_user

    case, _ = make_case(db.session, now=local(2026, 11, 23, 9, 0).astimezone(UTC))  # Monday
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, case.priority, case.created_at)
    before = case.resolve_due_at
    sla.extend(db.session, case, 14 * 60, local(2026, 11, 25, 9, 0).astimezone(UTC))
    # Two working days of seven hours after Friday 17:30: Tuesday 17:30.
    assert case.resolve_due_at.astimezone(SHANGHAI) == local(2026, 12, 1, 17, 30)
    assert case.resolve_due_at == sla.deadline(db.session, before, 14 * 60, True)
    assert case.resolve_check_at <= case.resolve_due_at


def test_long_spans_count_the_same_as_day_by_day():
    calendar = WorkCalendar(
        overrides={date(2026, 10, 1): "holiday", date(2026, 10, 10): "workday"},
        known_years={2026},
    )
    start = local(2026, 9, 20, 10, 15)
    for days in (0, 1, 3, 6, 7, 8, 15, 30, 400):
        end = start + timedelta(days=days, hours=5)
        by_day, day = 0, start.date()
        while day <= end.date():  # the plain count, one day at a time
            if calendar.is_workday(day):
                for begin, finish in HOURS.periods:
                    lo = max(datetime.combine(day, begin, SHANGHAI), start)
                    hi = min(datetime.combine(day, finish, SHANGHAI), end)
                    by_day += max(0, int((hi - lo).total_seconds()))
            day += timedelta(days=1)
        assert sla.working_minutes_between(start, end, calendar, HOURS, SHANGHAI) == by_day // 60
