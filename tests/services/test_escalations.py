"""The SLA sweep reminds at 75% and escalates at 100%, once each, touching only due clocks."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.models import CaseEvent, Department, OutboxMessage, utcnow
from portal.services import escalations, workflow
from tests.factories import make_case, make_user


@pytest.fixture
def road(db, reference):
    department = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    handler = make_user(db.session, "handler", department=department, email="h@example.cn")
    department.head = make_user(
        db.session, "handler", department=department, email="head@example.cn"
    )
    make_user(db.session, "dispatcher", email="d@example.cn")
    parent = db.session.scalar(select(Department).where(Department.code == "EMERG"))
    parent.head = make_user(db.session, "handler", department=parent, email="chief@example.cn")
    department.parent = parent
    db.session.commit()
    return department, handler


def mails(db, to: str) -> list[str]:
    return db.session.scalars(
        select(OutboxMessage.subject).where(OutboxMessage.recipient == to)
    ).all()


def test_reminder_then_escalation_exactly_once(db, road):
    department, _ = road
    case, _ = make_case(db.session, category_code="0101")
    now = case.created_at
    workflow.route(db.session, case, make_user(db.session, "dispatcher"), department, now)
    db.session.commit()
    due = case.resolve_due_at
    warn_at = case.resolve_check_at
    assert now < warn_at < due
    assert escalations.sweep(db.session, warn_at - timedelta(seconds=1)).reminded == 0
    first = escalations.sweep(db.session, warn_at)
    assert (first.reminded, first.escalated) == (1, 0)
    assert escalations.sweep(db.session, warn_at + timedelta(minutes=1)).reminded == 0
    assert len(mails(db, "h@example.cn")) == 1 and mails(db, "d@example.cn") == []
    overdue = escalations.sweep(db.session, due + timedelta(minutes=1))
    assert overdue.escalated == 1
    assert escalations.sweep(db.session, due + timedelta(days=2)).escalated == 0
    db.session.commit()
    assert any("OVERDUE" in s or "超期" in s for s in mails(db, "head@example.cn"))
    assert len(mails(db, "d@example.cn")) == 1
    assert len(mails(db, "chief@example.cn")) == 1  # the head of the parent department
    escalated = db.session.scalars(select(CaseEvent).where(CaseEvent.kind == "escalated")).all()
    assert len(escalated) == 1 and escalated[0].public


def test_answered_and_paused_clocks_are_left_alone(db, road):
    _department, _ = road
    case, _ = make_case(db.session)
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, "normal", case.created_at)
    assert case.respond_check_at is None  # answered: nothing left to check
    workflow.ask_info(db.session, case, dispatcher, "请补充照片", case.created_at)
    db.session.commit()
    result = escalations.sweep(db.session, case.created_at + timedelta(days=30))
    assert (result.reminded, result.escalated) == (0, 0)


def test_the_sweep_reads_only_due_clocks(db, road):
    for _ in range(30):
        make_case(db.session)
    now = utcnow()
    due_soon = escalations.sweep(db.session, now)
    assert (due_soon.reminded, due_soon.escalated) == (0, 0)
    # Far in the future every clock is due once: reminder and escalation for each.
    later = escalations.sweep(db.session, now + timedelta(days=60))
    assert later.escalated == 60
    db.session.commit()
    pending = db.session.scalar(select(func.count()).where(CaseEvent.kind == "escalated"))
    assert pending == 60


def count_statements(db, run) -> int:
    """Run something and return how many SQL statements it sent."""
    from sqlalchemy import event

    seen = []

    def note(*_args) -> None:
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    return len(seen)


def test_a_sweep_with_nothing_due_costs_the_same_for_10_or_40_open_cases(db, road):
    now = utcnow()
    for _ in range(10):
        make_case(db.session)
    few = count_statements(db, lambda: escalations.sweep(db.session, now))
    for _ in range(30):
        make_case(db.session)
    many = count_statements(db, lambda: escalations.sweep(db.session, now))
    assert few == many
    due = escalations.sweep(db.session, now + timedelta(days=60))
    assert due.escalated == 80  # every clock of the 40 cases, once the time has come


def test_a_miss_is_charged_to_the_department_that_held_the_case(db, road):
    from zoneinfo import ZoneInfo

    from portal.services import kpi

    department, _ = road
    drain = db.session.scalar(select(Department).where(Department.code == "DRAIN"))
    case, _ = make_case(db.session, category_code="0101")
    dispatcher = make_user(db.session, "dispatcher")
    now = case.created_at
    workflow.route(db.session, case, dispatcher, department, now)
    db.session.commit()
    due = case.resolve_due_at
    # Sent on to drains after the deadline, before the sweep noticed it.
    workflow.route(db.session, case, dispatcher, drain, due + timedelta(minutes=5))
    escalations.sweep(db.session, due + timedelta(minutes=10))
    db.session.commit()
    assert case.department == drain and case.resolve_missed_by == department
    escalated = [e for e in case.events if e.kind == "escalated" and e.data["clock"] == "resolve"]
    assert escalated[0].data["department"] == "ROAD"
    tz = ZoneInfo("Asia/Shanghai")
    month = now.astimezone(tz).date().replace(day=1)
    later = due + timedelta(days=1)
    table = {d.code: card for d, card in kpi.by_department(db.session, month, later, tz)}
    assert table["ROAD"].rates["on_time_resolution_rate"].denominator == 1
    assert table["ROAD"].rates["on_time_resolution_rate"].numerator == 0
    assert table["DRAIN"].rates["on_time_resolution_rate"].denominator == 0
    alone = kpi.scorecard(db.session, month, later, tz, department="ROAD")
    assert alone.rates["on_time_resolution_rate"].denominator == 1
