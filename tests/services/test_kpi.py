"""Each KPI against a month counted by hand (October 2026, Beijing time)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portal.models import Case, Department
from portal.services import kpi
from tests.kpi_month import NOW, OCTOBER, TZ, build_october


@pytest.fixture
def october(db, reference):
    build_october(db)


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


def test_the_latest_rating_of_a_reworked_case_counts(db, october):
    # Case 9 (the lighting unit's only case): satisfied at 已处置 in its first cycle,
    # dissatisfied once fixed again and closed.
    nine = db.session.scalar(select(Case).join(Case.department).where(Department.code == "LIGHT"))
    assert [(r.cycle, r.rating, r.case_state) for r in nine.ratings] == [
        (1, "satisfied", "resolved"),
        (2, "dissatisfied", "closed"),
    ]
    card = kpi.scorecard(db.session, OCTOBER, NOW, TZ, department="LIGHT")
    assert counts(card)["satisfaction_rate"] == (0, 1)


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


def test_approved_extensions_are_counted_apart_by_department(app, db, reference):
    from zoneinfo import ZoneInfo

    from sqlalchemy import select as select_

    from portal.models import Department, utcnow
    from portal.services import kpi as kpi_
    from portal.services import workflow
    from tests.factories import make_case, make_user

    road = db.session.scalar(select_(Department).where(Department.code == "ROAD"))
    dispatcher, handler = (
        make_user(db.session, "dispatcher"),
        make_user(db.session, "handler", department=road),
    )
    case, _ = make_case(db.session, category_code="0101")
    now = utcnow()
    workflow.accept(db.session, case, dispatcher, "normal", now)
    workflow.route(db.session, case, dispatcher, road, now)
    workflow.request_extension(db.session, case, handler, "等材料", 600, now)
    workflow.decide_extension(db.session, case, dispatcher, True, "", now)
    tz = ZoneInfo("Asia/Shanghai")
    month = kpi_.current_month(now, tz)
    assert kpi_.extensions(db.session, month, tz) == {"ROAD": kpi_.Extensions(1, 600)}
    assert kpi_.extensions(db.session, kpi_.add_months(month, -1), tz) == {}
