"""Past months' KPIs come from the cache until a record of the month changes or time moves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, update

from portal.models import Case, CaseEvent, Inspection, KpiVersion
from portal.services import kpi
from portal.services.kpi_cache import ANY_MONTH
from tests.kpi_month import NOW, OCTOBER, TZ, build, build_october, utc


@pytest.fixture
def october(db, reference):
    build_october(db)


@pytest.fixture
def case_queries(db):
    """Count the statements that read the cases table."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if "FROM cases" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def counts(card: kpi.Scorecard) -> dict[str, tuple[int, int]]:
    return {key: (r.numerator, r.denominator) for key, r in card.rates.items()}


def october_card(db) -> dict[str, tuple[int, int]]:
    return counts(kpi.scorecard(db.session, OCTOBER, NOW, TZ))


def test_a_past_month_is_counted_once(db, october, case_queries):
    first = kpi.trend(db.session, OCTOBER, NOW, TZ)
    counted = len(case_queries)
    again = kpi.trend(db.session, OCTOBER, NOW, TZ)
    assert [counts(m) for m in again] == [counts(m) for m in first]
    assert len(case_queries) == counted  # the second trend read no case at all


def test_the_current_month_is_always_counted(db, october, case_queries):
    november = datetime(2026, 11, 1).date()
    kpi.scorecard(db.session, november, NOW, TZ)
    counted = len(case_queries)
    kpi.scorecard(db.session, november, NOW, TZ)
    assert len(case_queries) > counted


def test_a_changed_case_of_the_month_shows_at_once(db, october):
    before = october_card(db)
    case = db.session.scalar(
        select(Case).where(kpi.month_cases(OCTOBER, TZ), Case.rating == "satisfied")
    )
    case.rating = "dissatisfied"
    db.session.commit()
    after = october_card(db)
    satisfied, rated = before["satisfaction_rate"]
    assert after["satisfaction_rate"] == (satisfied - 1, rated)


def test_a_case_entered_late_for_the_month_is_counted(db, october):
    before = october_card(db)
    build(db, utc(10, 20), state="closed", rating="satisfied", responded_at=utc(10, 20, 3))
    assert october_card(db)["satisfaction_rate"] == (
        before["satisfaction_rate"][0] + 1,
        before["satisfaction_rate"][1] + 1,
    )


def test_a_rework_event_counts_against_the_month(db, october):
    before = october_card(db)
    case = db.session.scalar(
        select(Case).where(
            kpi.month_cases(OCTOBER, TZ),
            Case.state == "closed",
            ~Case.id.in_(
                select(CaseEvent.case_id).where(CaseEvent.kind.in_(("reopened", "rework")))
            ),
        )
    )
    db.session.add(CaseEvent(case_id=case.id, kind="rework", created_at=NOW))
    db.session.commit()
    reworked, _out_of = october_card(db)["rework_rate"]
    assert reworked == before["rework_rate"][0] + 1


def test_a_deadline_passing_changes_the_month_without_any_write(db, october):
    before = october_card(db)
    later = datetime(2027, 1, 2, tzinfo=UTC)  # after FAR, the deadlines still to come at NOW
    after = counts(kpi.scorecard(db.session, OCTOBER, later, TZ))
    assert after["on_time_resolution_rate"][1] > before["on_time_resolution_rate"][1]


def test_an_inspection_of_the_month_changed_shows_at_once(db, october):
    before = october_card(db)
    inspection = db.session.scalar(
        select(Inspection).where(Inspection.verdict == "fail", Inspection.status == "submitted")
    )
    inspection.verdict = "pass"
    db.session.commit()
    passed, total = october_card(db)["inspection_pass_rate"]
    assert (passed, total) == (before["inspection_pass_rate"][0] + 1, total)


def any_month_version(db) -> int:
    db.session.expire_all()
    row = db.session.get(KpiVersion, ANY_MONTH)
    return row.version if row else 0


def test_a_bulk_update_of_counted_columns_invalidates_every_month(db, october):
    before = october_card(db)
    version = any_month_version(db)
    db.session.execute(update(Case).where(Case.rating == "satisfied").values(rating="dissatisfied"))
    db.session.commit()
    assert any_month_version(db) == version + 1
    assert october_card(db) != before


def test_a_bulk_update_of_other_columns_leaves_the_cache(db, october):
    version = any_month_version(db)
    db.session.execute(update(Case).values(followers_count=Case.followers_count + 1))
    db.session.commit()
    assert any_month_version(db) == version


def test_a_rolled_back_change_leaves_the_version(db, october):
    version = db.session.get(KpiVersion, OCTOBER).version
    case = db.session.scalar(select(Case).where(Case.state == "closed"))
    case.rating = "satisfied"
    db.session.flush()
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(KpiVersion, OCTOBER).version == version
