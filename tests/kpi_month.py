"""A month counted by hand (October 2026, Beijing time), for the KPI tests.

Cases are numbered in the comments; the tests name them by these numbers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.models import CaseEvent, Department, Inspection, Project
from portal.services import cases
from tests.factories import CENTRE, make_case, make_user

TZ = ZoneInfo("Asia/Shanghai")
OCTOBER = date(2026, 10, 1)
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
H = timedelta(hours=1)
FAR = datetime(2026, 12, 31, tzinfo=UTC)  # a deadline still to come


def utc(month: int, day: int, hour: int = 2) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def build(db, created: datetime, department: str = "ROAD", events=(), **fields):
    """Make a case created at a moment, then set its clocks and state by hand."""
    case, _ = make_case(db.session, now=created)
    case.department = db.session.scalar(select(Department).where(Department.code == department))
    values = {"respond_due_at": created + 2 * H, "resolve_due_at": created + 72 * H}
    values.update(fields)
    for name, value in values.items():
        setattr(case, name, value)
    for kind in events:
        db.session.add(CaseEvent(case=case, kind=kind, created_at=created + 100 * H))
    db.session.commit()
    return case


def build_october(db) -> None:
    """Build the hand-counted month: nine cases that count, and some that must not."""
    start = utc(9, 30, 17)  # 1 October, 01:00 in Beijing: inside the month
    # 1: answered and resolved in time, closed, satisfied.
    build(
        db,
        start,
        state="closed",
        responded_at=start + H,
        resolved_at=start + 48 * H,
        closed_at=start + 50 * H,
        rating="satisfied",
    )
    # 2: answered late, resolved late, closed, basically satisfied.
    c = utc(10, 3)
    build(
        db,
        c,
        state="closed",
        responded_at=c + 3 * H,
        resolved_at=c + 80 * H,
        closed_at=c + 81 * H,
        rating="basically_satisfied",
    )
    # 3: a major hazard answered in time, its resolution overdue.
    c = utc(10, 5)
    build(db, c, state="in_progress", responded_at=c + H, major_hazard=True)
    # 4: waiting, every deadline still ahead: counted in no rate with a deadline.
    c = utc(10, 30)
    build(db, c, state="submitted", respond_due_at=FAR, resolve_due_at=FAR)
    # 5: rejected in time (a major-hazard category, but rejected ones do not count there).
    c = utc(10, 6)
    build(db, c, state="rejected", responded_at=c + H, major_hazard=True)
    # 9: a major hazard fixed in time and closed, then sent back once by the office. At
    # 已处置 the resident said it was fixed and satisfied; the office's check found it was
    # not, and sent it back (a second cycle); fixed again and closed, the resident rated the
    # second cycle dissatisfied, after the window (no reopening). The latest rating counts.
    c = utc(10, 8)
    nine = build(
        db,
        c,
        department="LIGHT",
        state="resolved",
        responded_at=c + H,
        resolved_at=c + 5 * H,
        major_hazard=True,
    )
    cases.rate(db.session, nine, "satisfied", "修好了", c + 6 * H)
    db.session.add(CaseEvent(case=nine, kind="rework", created_at=c + 7 * H))
    nine.cycle += 1
    nine.state, nine.resolved_at, nine.closed_at = "closed", c + 10 * H, c + 12 * H
    cases.rate(db.session, nine, "dissatisfied", "又坏了", c + 12 * H + timedelta(days=8))
    db.session.commit()
    # 10: a supervisor's finding answered within its 48 hours.
    c = utc(10, 9)
    build(
        db,
        c,
        source="inspection",
        state="dispatched",
        respond_due_at=c + 48 * H,
        responded_at=c + 20 * H,
        resolve_due_at=FAR,
    )
    # 11: a supervisor's finding never answered, its 48 hours long gone.
    c = utc(10, 10)
    build(
        db, c, source="inspection", state="submitted", respond_due_at=c + 48 * H, resolve_due_at=FAR
    )
    # 12: reopened by a dissatisfied resident, back with the department.
    c = utc(10, 11)
    build(
        db,
        c,
        state="dispatched",
        responded_at=c + H,
        rating="dissatisfied",
        reopen_count=1,
        resolve_due_at=FAR,
        events=("reopened",),
    )
    # Not counted: merged, hidden, created in September or in November (Beijing time).
    build(db, utc(10, 12), state="duplicate", responded_at=utc(10, 12, 3))
    build(db, utc(10, 13), state="closed", hidden=True, rating="dissatisfied")
    build(db, utc(9, 30, 15), state="closed", rating="dissatisfied")  # 23:00 on 30 Sept
    build(db, utc(10, 31, 17), state="closed", rating="dissatisfied")  # 01:00 on 1 Nov

    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    site = Project(
        code="P-1",
        name="工地",
        lat=CENTRE[0],
        lng=CENTRE[1],
        department=road,
        geometry={"type": "Point", "coordinates": [CENTRE[1], CENTRE[0]]},
    )
    db.session.add(site)
    supervisor = make_user(db.session, "supervisor")
    reports = [
        ("submitted", "pass", utc(10, 2), False, None),
        ("submitted", "fail", utc(10, 3), False, None),
        ("submitted", "pass", utc(10, 4), True, None),  # off site, never confirmed
        ("submitted", "pass", utc(10, 5), True, utc(10, 6)),  # off site, confirmed
        ("draft", "", None, False, None),
        ("submitted", "pass", utc(11, 2), False, None),  # November
    ]
    for n, (status, verdict, submitted, off_site, confirmed) in enumerate(reports):
        db.session.add(
            Inspection(
                client_key=f"k{n}",
                project=site,
                supervisor_id=supervisor.id,
                status=status,
                verdict=verdict,
                submitted_at=submitted,
                off_site=off_site,
                confirmed_at=confirmed,
                items={},
            )
        )
    for n, (result, day) in enumerate(
        [
            ("passed", date(2026, 10, 9)),
            ("failed", date(2026, 10, 20)),
            ("passed", date(2026, 9, 30)),
            ("", None),
        ]
    ):
        db.session.add(
            Project(
                code=f"A-{n}",
                name="竣工",
                lat=CENTRE[0],
                lng=CENTRE[1],
                department=road,
                acceptance_result=result,
                acceptance_date=day,
                geometry={"type": "Point", "coordinates": [CENTRE[1], CENTRE[0]]},
            )
        )
    db.session.commit()
