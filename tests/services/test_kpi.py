"""Each KPI against a month counted by hand (October 2026, Beijing time)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.models import CaseEvent, Department, Inspection, Project
from portal.services import kpi
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


@pytest.fixture
def october(db, reference):
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
    # 9: a major hazard fixed in time and closed, then sent back once by the office.
    c = utc(10, 8)
    build(
        db,
        c,
        department="LIGHT",
        state="closed",
        responded_at=c + H,
        resolved_at=c + 10 * H,
        closed_at=c + 12 * H,
        rating="dissatisfied",
        major_hazard=True,
        events=("rework",),
    )
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


def counts(card: kpi.Scorecard) -> dict[str, tuple[int, int]]:
    return {key: (r.numerator, r.denominator) for key, r in card.rates.items()}


def test_each_rate_matches_the_hand_count(db, october):
    card = kpi.scorecard(db.session, OCTOBER, NOW, TZ)
    assert counts(card) == {
        "on_time_response_rate": (6, 8),  # 1 3 5 9 10 12 of 1 2 3 5 9 10 11 12
        "resolution_rate": (3, 8),  # 1 2 9 of all but the rejected 5
        "on_time_resolution_rate": (2, 4),  # 1 9 of 1 2 3 9
        "satisfaction_rate": (2, 4),  # 1 2 of 1 2 9 12
        "rework_rate": (2, 4),  # 9 12 of 1 2 9 12
        "major_hazard_rectification_rate": (1, 2),  # 9 of 3 9
        "inspection_pass_rate": (2, 3),
        "findings_answered_48h_rate": (1, 2),  # 10 of 10 11
        "acceptance_pass_rate": (1, 2),
    }
    assert card.rates["satisfaction_rate"].value == 0.5
    assert card.rates["satisfaction_rate"].target == 0.9
    assert card.rates["satisfaction_rate"].met is False
    assert card.rates["rework_rate"].target is None


def test_a_department_counts_only_its_own(db, october):
    card = kpi.scorecard(db.session, OCTOBER, NOW, TZ, department="LIGHT")
    assert counts(card)["major_hazard_rectification_rate"] == (1, 1)
    assert card.rates["major_hazard_rectification_rate"].met is True
    assert counts(card)["on_time_response_rate"] == (1, 1)
    # The inspected site and the acceptances belong to the roads department.
    assert card.rates["inspection_pass_rate"].value is None
    assert card.rates["acceptance_pass_rate"].value is None


def test_the_department_table_agrees_with_each_department_alone(db, october):
    table = dict((d.code, card) for d, card in kpi.by_department(db.session, OCTOBER, NOW, TZ))
    for code in ("ROAD", "LIGHT"):
        alone = kpi.scorecard(db.session, OCTOBER, NOW, TZ, department=code)
        assert counts(table[code]) == counts(alone)
    assert counts(table["ROAD"])["resolution_rate"] == (2, 7)


def test_a_zone_counts_the_cases_and_sites_inside_it(db, october):
    inside = kpi.scorecard(db.session, OCTOBER, NOW, TZ, zone="GS-MS")  # the centre's street
    assert counts(inside) == counts(kpi.scorecard(db.session, OCTOBER, NOW, TZ))
    elsewhere = kpi.scorecard(db.session, OCTOBER, NOW, TZ, zone="GS-HS")  # the next street
    assert all(rate.value is None for rate in elsewhere.rates.values())


def test_the_trend_puts_each_case_in_its_own_month(db, october):
    months = kpi.trend(db.session, OCTOBER, NOW, TZ)
    assert [m.month_text for m in months][-2:] == ["2026-09", "2026-10"]
    assert len(months) == 12
    assert counts(months[-1]) == counts(kpi.scorecard(db.session, OCTOBER, NOW, TZ))
    # The case created at 23:00 on 30 September, Beijing time, and the acceptance that day.
    assert counts(months[-2])["satisfaction_rate"] == (0, 1)
    assert counts(months[-2])["acceptance_pass_rate"] == (1, 1)
    november = kpi.scorecard(db.session, date(2026, 11, 1), NOW, TZ)
    assert counts(november)["satisfaction_rate"] == (0, 1)
    assert counts(november)["inspection_pass_rate"] == (1, 1)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-01", "", "2026-00", "abcd-ef"])
def test_a_bad_month_is_refused(text):
    with pytest.raises(kpi.KpiError):
        kpi.parse_month(text)


def test_unknown_department_or_zone_is_refused(db, reference):
    with pytest.raises(kpi.KpiError, match="department"):
        kpi.scorecard(db.session, OCTOBER, NOW, TZ, department="NOPE")
    with pytest.raises(kpi.KpiError, match="zone"):
        kpi.scorecard(db.session, OCTOBER, NOW, TZ, zone="NOPE")
