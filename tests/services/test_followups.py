"""Follow-up checks (回头看): a seeded sample stratified by department, answered on site;
a rebound reopens the case as rework or opens a finding on the work with the 48-hour clock."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import (
    Assignment,
    AuditEntry,
    Case,
    CaseEvent,
    Department,
    FollowUp,
    SpotCheckRound,
    utcnow,
)
from portal.services import followups, workflow
from portal.services.photos import PhotoStore
from tests.factories import make_case, make_project, make_user, on_site

MONTH = utcnow().strftime("%Y-%m")


@pytest.fixture
def store(tmp_path):
    return PhotoStore(str(tmp_path / "photos"))


@pytest.fixture
def history(db, reference):
    """Dept ROAD: 10 cases closed 45 days ago and an accepted work; dept other: 4 cases.
    Not eligible: closed 10 or 100 days ago, still open, a failed acceptance."""
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    other = db.session.scalar(select(Department).where(Department.code != "ROAD"))
    now = utcnow()
    made = {"ROAD": [], "other": [], "ineligible": []}
    for n, (department, days, key) in enumerate(
        [(road, 45, "ROAD")] * 10
        + [(other, 50, "other")] * 4
        + [(road, 10, "ineligible"), (road, 100, "ineligible"), (other, None, "ineligible")]
    ):
        case, _ = make_case(
            db.session, category_code="0101", position=(30.265 + n * 0.001, 120.14 + n * 0.001)
        )
        case.department = department
        if days is not None:
            case.state, case.closed_at = "closed", now - timedelta(days=days)
        made[key].append(case)
    work = make_project(
        db.session, code="GS-A", phase="operation", acceptance_result="passed", department=road
    )
    make_project(db.session, code="GS-F", phase="operation", acceptance_result="failed")
    supervisors = [make_user(db.session, "supervisor") for _ in range(2)]
    db.session.commit()
    return road, other, made, work, supervisors


def picked(round_) -> list[tuple]:
    return sorted((f.case_id or 0, f.project_id or 0, f.supervisor_id) for f in round_.follow_ups)


def test_the_draw_is_stratified_by_department_and_reproducible(db, history):
    road, other, made, _work, supervisors = history
    round_ = followups.draw(db.session, MONTH, 0.2, 7, None, utcnow(), actor_label="ops")
    db.session.commit()
    by_department = {}
    for f in round_.follow_ups:
        by_department.setdefault(f.department_id, []).append(f)
    # ROAD: 10 cases + 1 work, 20% rounded up = 3; the other department: 4 → 1
    assert len(by_department[road.id]) == 3 and len(by_department[other.id]) == 1
    eligible = {c.id for c in made["ROAD"] + made["other"]}
    assert {f.case_id for f in round_.follow_ups if f.case_id} <= eligible
    # shared evenly, two each
    assert sorted(
        [sum(f.supervisor_id == s.id for f in round_.follow_ups) for s in supervisors]
    ) == [2, 2]
    first = picked(round_)
    again = followups.draw(db.session, MONTH, 0.2, 7, None, utcnow(), force=True)
    assert picked(again) == first  # the same seed draws the same sample
    other_seeds = {
        tuple(picked(followups.draw(db.session, MONTH, 0.2, s, None, utcnow(), force=True)))
        for s in range(8, 14)
    }
    assert len(other_seeds) > 1
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "followups.draw"))


def test_supervisors_with_spot_checks_get_fewer_follow_ups(db, history):
    *_, supervisors = history
    busy, free = supervisors
    site = make_project(db.session, code="GS-S", phase="construction", active_site=True)
    spot = SpotCheckRound(month=MONTH, seed=1, per_supervisor=3, run_at=utcnow())
    spot.assignments = [
        Assignment(supervisor_id=busy.id, project_id=site.id, due_on=utcnow().date())
    ]
    db.session.add(spot)
    db.session.commit()
    round_ = followups.draw(db.session, MONTH, 0.2, 7, None, utcnow())
    loads = [sum(f.supervisor_id == s.id for f in round_.follow_ups) for s in (busy, free)]
    # the work of the month is balanced: the busy one's spot check counts as one item
    assert sum(loads) == 4 and loads[0] <= loads[1] and abs(loads[0] + 1 - loads[1]) <= 1


def test_a_draw_refuses_what_it_cannot_do(db, history):
    followups.draw(db.session, MONTH, 0.2, 7, None, utcnow())
    for month, share, code in [
        (MONTH, 0.2, "exists"),
        ("2026-13", 0.2, "month"),
        ("9999-01", 0.2, "month"),
        ("next", 0.2, "month"),
        ("2027-01", 0, "share"),
        ("2027-01", 1.5, "share"),
    ]:
        with pytest.raises(followups.FollowUpError) as raised:
            followups.draw(db.session, month, share, 7, None, utcnow())
        assert raised.value.args[0] == code


def one(db, history, kind: str) -> FollowUp:
    round_ = followups.draw(db.session, MONTH, 1.0, 7, None, utcnow())
    db.session.commit()
    return next(f for f in round_.follow_ups if (f.project_id if kind == "work" else f.case_id))


def test_still_fixed_changes_nothing_and_counts(db, history, store):
    from tests.factories import jpeg_photo

    item = one(db, history, "case")
    case = item.case
    followups.answer(
        db.session,
        item,
        item.supervisor,
        "still_fixed",
        "",
        on_site(case.lat, case.lng),
        [jpeg_photo()],
        store,
        utcnow(),
    )
    db.session.commit()
    assert item.answered_at and not item.flagged and item.applied_at is None
    assert case.state == "closed" and case.cycle == 1
    with pytest.raises(followups.FollowUpError, match="answered"):
        followups.answer(
            db.session,
            item,
            item.supervisor,
            "rebounded",
            "又坏了",
            on_site(case.lat, case.lng),
            [jpeg_photo()],
            store,
            utcnow(),
        )


def test_a_rebound_reopens_the_case_as_rework(db, history, store):
    from tests.factories import jpeg_photo

    item = one(db, history, "case")
    case = item.case
    for verdict, body, position, photos, code in [
        ("maybe", "x", on_site(case.lat, case.lng), [jpeg_photo()], "verdict"),
        ("rebounded", " ", on_site(case.lat, case.lng), [jpeg_photo()], "body"),
        ("rebounded", "又坏了", None, [jpeg_photo()], "position"),
        ("rebounded", "又坏了", on_site(case.lat, case.lng), [], "photo"),
    ]:
        with pytest.raises(followups.FollowUpError, match=code):
            followups.answer(
                db.session, item, item.supervisor, verdict, body, position, photos, store, utcnow()
            )
    stranger = make_user(db.session, "supervisor")
    with pytest.raises(followups.FollowUpError, match="owner"):
        followups.answer(
            db.session,
            item,
            stranger,
            "still_fixed",
            "",
            on_site(case.lat, case.lng),
            [jpeg_photo()],
            store,
            utcnow(),
        )
    followups.answer(
        db.session,
        item,
        item.supervisor,
        "rebounded",
        "井盖又松动了",
        on_site(case.lat, case.lng),
        [jpeg_photo()],
        store,
        utcnow(),
    )
    db.session.commit()
    assert item.applied_at is not None
    assert case.state == "dispatched" and case.cycle == 2 and case.closed_at is None
    assert case.reopen_count == 0  # the resident's own reopening stays theirs
    event = case.events[-1]
    assert event.kind == "rework" and event.data["follow_up"] == item.id
    assert case.resolve_due_at > utcnow()
    # the rework counts against the department in the KPIs' sense
    assert db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "rework")
    )


def rebound_on_work(db, item: FollowUp, store, now, category_code: str | None = "0101") -> None:
    """The supervisor finds the work's fault back, on site, with a photo (and a category of
    the finding, unless `category_code` is None)."""
    from tests.factories import category, jpeg_photo

    work = item.project
    chosen = {} if category_code is None else {"category": category(db.session, category_code)}
    followups.answer(
        db.session,
        item,
        item.supervisor,
        "rebounded",
        "路面又塌陷",
        on_site(work.lat, work.lng),
        [jpeg_photo()],
        store,
        now,
        **chosen,
    )


def test_a_rebound_of_a_work_opens_a_finding_with_the_48_hour_clock(db, history, store):
    item = one(db, history, "work")
    work = item.project
    with pytest.raises(followups.FollowUpError, match="category"):
        rebound_on_work(db, item, store, utcnow(), category_code=None)
    now = utcnow()
    rebound_on_work(db, item, store, now)
    db.session.commit()
    finding = item.finding
    assert finding.source == "inspection" and finding.project_id == work.id
    assert finding.category.code == "0101" and "路面又塌陷" in finding.description
    assert finding.respond_due_at - now == timedelta(hours=48)


def test_a_finding_in_the_first_hours_of_new_year_takes_the_new_year_number(db, history, store):
    """01:00 on 1 January in Beijing is still 31 December in UTC: the office's year counts."""
    item = one(db, history, "work")
    new_year = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 2027-01-01 01:00 Beijing time
    rebound_on_work(db, item, store, new_year)
    staff = make_user(db.session, "admin")
    followups.confirm(db.session, item, staff, "现场照片属实", new_year)  # the position was old
    db.session.commit()
    assert item.finding.number.startswith("2027-")


def test_a_typed_position_waits_for_staff(db, history, store):
    from portal.services.evidence import Position
    from tests.factories import jpeg_photo

    item = one(db, history, "case")
    case = item.case
    staff = make_user(db.session, "dispatcher")
    followups.answer(
        db.session,
        item,
        item.supervisor,
        "rebounded",
        "又坏了",
        Position(case.lat, case.lng),
        [jpeg_photo()],
        store,
        utcnow(),
    )
    db.session.commit()
    assert item.flagged and "typed" in item.review_reasons
    assert case.state == "closed" and followups.pending(db.session) == [item]
    assert followups.rebound_rates(db.session, utcnow() - timedelta(1), utcnow()) == []
    with pytest.raises(followups.FollowUpError, match="reason"):
        followups.confirm(db.session, item, staff, " ", utcnow())
    followups.confirm(db.session, item, staff, "照片清楚，确认反弹", utcnow())
    db.session.commit()
    assert case.state == "dispatched" and followups.pending(db.session) == []
    with pytest.raises(followups.FollowUpError, match="state"):
        followups.reject(db.session, item, staff, "晚了", utcnow())


def test_rebound_rates_per_department(db, history, store):
    from tests.factories import jpeg_photo

    round_ = followups.draw(db.session, MONTH, 1.0, 7, None, utcnow())
    answers = [f for f in round_.follow_ups if f.case_id][:4]
    for n, item in enumerate(answers):
        followups.answer(
            db.session,
            item,
            item.supervisor,
            "rebounded" if n == 0 else "still_fixed",
            "又坏了",
            on_site(item.case.lat, item.case.lng),
            [jpeg_photo()],
            store,
            utcnow(),
        )
    db.session.commit()
    rates = followups.rebound_rates(db.session, utcnow() - timedelta(hours=1), utcnow())
    assert sum(r.answered for r in rates) == 4 and sum(r.rebounded for r in rates) == 1
    first = next(r for r in rates if r.rebounded)
    assert first.rate == pytest.approx(1 / first.answered)


def test_the_cli_draws_a_month(db, history, runner):
    result = runner.invoke(args=["followups", "draw", "--month", MONTH, "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "follow-up checks" in result.output
    assert db.session.scalar(select(FollowUp.id)) is not None
    bad = runner.invoke(args=["followups", "draw", "--month", "2026-99"])
    assert bad.exit_code != 0 and "month" in bad.output


def test_cases_in_other_states_are_left_alone_by_a_late_rebound(db, history, store):
    from tests.factories import jpeg_photo

    item = one(db, history, "case")
    case = item.case
    case.state = "dispatched"  # reopened meanwhile by its resident
    db.session.commit()
    followups.answer(
        db.session,
        item,
        item.supervisor,
        "rebounded",
        "又坏了",
        on_site(case.lat, case.lng),
        [jpeg_photo()],
        store,
        utcnow(),
    )
    assert case.state == "dispatched" and case.cycle == 1
    with pytest.raises(workflow.WorkflowError):
        workflow.reopen_rebound(db.session, case, item.supervisor, "x", utcnow())
    assert db.session.scalar(select(Case).where(Case.id == case.id)).state == "dispatched"
