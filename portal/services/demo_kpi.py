"""Demo history that gives every KPI something real: late work, rework, major hazards,
completion acceptances. Everything goes through the same services the office uses."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Category, Project, User
from portal.services import cases, routing, workflow
from portal.services.photos import PhotoStore

# (months back, category code, hours late to answer, days late to resolve); 0 = in time.
LATE_CASES = [
    (5, "0101", 0, 2),
    (4, "0301", 3, 0),
    (3, "0101", 0, 4),
    (2, "0401", 5, 1),
    (1, "0301", 0, 3),
    (1, "0101", 2, 0),
]
PLACES = [
    (30.2702, 120.1463, "莫干山路与湖墅南路交叉口", "路口处人行道破损，行人易绊倒。"),
    (30.2655, 120.1602, "大关路88号附近", "雨后积水严重，车辆通行困难。"),
    (30.2781, 120.1517, "湖墅南路210号门前", "路灯整排不亮，夜间很暗。"),
    (30.2724, 120.1688, "上塘路与德胜路口", "井盖松动，车辆经过有响声。"),
]


def _month_day(now: datetime, back: int, day: int) -> datetime:
    index = now.year * 12 + now.month - 1 - back
    return datetime(index // 12, index % 12 + 1, day, 1, 30, tzinfo=UTC)


def load_kpi(session: Session, store: PhotoStore, now: datetime, seed: int) -> dict[str, int]:
    """Add late cases, a late major hazard, rework after dissatisfied ratings and acceptances."""
    rng = random.Random(seed + 5)  # noqa: S311 - demo data, not a secret
    dispatcher = session.scalar(select(User).where(User.role == "dispatcher"))
    made = 0
    for n, (back, code, answer_late, resolve_late) in enumerate(LATE_CASES):
        created = _month_day(now, back, 6 + 3 * n)
        _late_case(session, store, dispatcher, rng, code, created, now, answer_late, resolve_late)
        made += 1
    hazard = session.scalar(
        select(Category).where(Category.major_hazard.is_(True)).order_by(Category.code)
    )
    if hazard is not None:  # a major hazard fixed a day late two months ago
        _late_case(session, store, dispatcher, rng, hazard.code, _month_day(now, 2, 20), now, 0, 1)
        made += 1
    reworked = _rework(session, store, dispatcher, now)
    accepted = _acceptances(session, now)
    session.flush()
    return {"late cases": made, "reworked cases": reworked, "acceptances": accepted}


def _late_case(
    session: Session,
    store: PhotoStore,
    dispatcher: User,
    rng: random.Random,
    code: str,
    created: datetime,
    now: datetime,
    answer_late: int,
    resolve_late: int,
) -> Case:
    """Enter a resident's letter and take it to closed, late by the given amounts."""
    category = session.scalar(select(Category).where(Category.code == code))
    lat, lng, address, text = rng.choice(PLACES)
    report = cases.Report(
        category=category, lat=lat, lng=lng, description=text, address=address, source="letter"
    )
    case, _token = cases.submit(session, report, [], store, created)
    answered = (
        case.respond_due_at + timedelta(hours=answer_late)
        if answer_late
        else created + timedelta(minutes=40)
    )
    workflow.accept(session, case, dispatcher, case.priority, answered)
    department = routing.suggest(session, case)
    workflow.route(session, case, dispatcher, department, answered + timedelta(minutes=10))
    resolved = (
        case.resolve_due_at + timedelta(days=resolve_late)
        if resolve_late
        else answered + timedelta(hours=6)
    )
    resolved = min(resolved, now - timedelta(hours=2))
    worker = department.head or dispatcher
    workflow.resolve(session, case, worker, "已完成维修，现场恢复正常。", [], store, resolved)
    workflow.close(
        session, case, dispatcher, "经核查，问题已解决，予以结案。", resolved + timedelta(hours=1)
    )
    return case


def _rework(session: Session, store: PhotoStore, dispatcher: User, now: datetime) -> int:
    """Let residents send back three closed, unrated cases, and the office fix them again."""
    candidates = session.scalars(
        select(Case)
        .where(
            Case.state == "closed",
            Case.source != "inspection",  # residents rate their own reports, not findings
            Case.rating.is_(None),
            Case.department_id.is_not(None),
            Case.closed_at < now - timedelta(days=12),
        )
        .order_by(Case.closed_at)
    ).all()
    chosen = candidates[:: max(1, len(candidates) // 3)][:3]
    for case in chosen:
        rated = case.closed_at + timedelta(days=1)
        cases.rate(session, case, "dissatisfied", "问题没有彻底解决，又出现了。", rated)
        worker = case.department.head or dispatcher
        workflow.resolve(
            session, case, worker, "返工处理，已彻底修复。", [], store, rated + timedelta(days=2)
        )
        workflow.close(
            session, case, dispatcher, "返工后核查合格，予以结案。", rated + timedelta(days=3)
        )
        # The rework asks for a new rating; one resident has not answered yet.
        if case is not chosen[-1]:
            cases.rate(
                session, case, "basically_satisfied", "返工后修好了。", rated + timedelta(days=4)
            )
    return len(chosen)


def _acceptances(session: Session, now: datetime) -> int:
    """Record the passed completion acceptances of the projects past construction."""
    finished = session.scalars(
        select(Project)
        .where(Project.phase.in_(("acceptance", "operation")), Project.acceptance_result == "")
        .order_by(Project.code)
    ).all()
    for n, project in enumerate(finished):
        held: date = (now - timedelta(days=20 + 25 * n)).date()
        project.acceptance_result = "passed"
        project.acceptance_date = held
        project.actual_end = held
    return len(finished)
