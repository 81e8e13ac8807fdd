"""Submitting, numbering, following, rating and reopening cases."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, CaseFollower, CaseRating, Photo, utcnow
from portal.services import cases
from portal.services.photos import PhotoStore
from tests.factories import make_case


def test_submit_opens_a_case_in_its_zone_with_deadlines(app, db, reference):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    case, token = make_case(db.session, store, photos=2)
    assert case.number.startswith(f"{utcnow().year}-")
    assert case.state == "submitted"
    assert case.zone is not None and case.zone.level == "grid"
    assert case.respond_due_at > case.created_at
    assert case.resolve_due_at >= case.respond_due_at
    assert cases.find_by_token(db.session, token) == case
    assert cases.find_by_token(db.session, token + "x") is None
    assert [p.position for p in case.photos] == [0, 1]
    assert all(store.path(p.sha256).exists() for p in case.photos)
    assert [e.kind for e in case.events] == ["submitted"]


def test_a_point_outside_every_zone_is_still_accepted(db, reference):
    case, _ = make_case(db.session, position=(39.9, 116.4))
    assert case.zone is None and case.state == "submitted"


def test_failed_commit_leaves_no_orphan_photo(app, db, reference):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    import io

    from portal.services.photos import process
    from tests.factories import category, jpeg_bytes

    photo = process(io.BytesIO(jpeg_bytes(color="purple")), max_bytes=10**7)
    report = cases.Report(
        category=category(db.session),
        lat=30.2741,
        lng=120.1551,
        description="井盖松动，踩上去会响。",
    )
    cases.submit(db.session, report, [photo], store, utcnow())
    assert store.path(photo.sha256).exists()
    db.session.rollback()
    assert not store.path(photo.sha256).exists()
    assert db.session.scalar(select(func.count()).select_from(Photo)) == 0


def test_case_numbers_are_unique_under_concurrency(app, db, reference):
    numbers: list[str] = []
    errors: list[BaseException] = []
    engine = db.engine

    def submit_one() -> None:
        with app.app_context():
            try:
                with Session(engine) as session:
                    numbers.append(cases.next_case_number(session, 2026))
                    session.commit()
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=submit_one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"2026-{n:06d}" for n in range(1, 13)]


def test_follow_counts_and_refuses_closed_cases(db, reference):
    case, _ = make_case(db.session)
    cases.follow(db.session, case, utcnow(), email="a@example.cn")
    cases.follow(db.session, case, utcnow())
    db.session.commit()
    assert case.followers_count == 2
    assert db.session.scalar(select(func.count()).select_from(CaseFollower)) == 2
    case.state = "closed"
    db.session.commit()
    with pytest.raises(cases.CaseError):
        cases.follow(db.session, case, utcnow())


def test_nearby_finds_open_cases_of_the_category_within_50_m(db, reference):
    case, _ = make_case(db.session, position=(30.2741, 120.1551))
    _far, _ = make_case(db.session, position=(30.2751, 120.1551))  # about 110 m north
    found = cases.nearby_open(db.session, case.category, 30.2743, 120.1551, 50)
    assert [c.number for c, _ in found] == [case.number]
    assert 20 < found[0][1] < 25


def _closed(db, days_ago: float = 1) -> Case:
    case, _ = make_case(db.session)
    case.state = "closed"
    case.closed_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return case


def test_dissatisfied_rating_within_7_days_reopens_once(db, reference):
    case = _closed(db)
    cases.rate(db.session, case, "dissatisfied", "还是坏的", utcnow())
    db.session.commit()
    assert case.state in ("accepted", "dispatched")
    assert case.reopen_count == 1
    assert case.resolve_due_at > utcnow()
    kinds = [
        e.kind for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))
    ]
    assert kinds[-2:] == ["rated", "reopened"]
    case.state, case.closed_at = "closed", utcnow()
    db.session.commit()
    assert not cases.can_reopen(case, utcnow())


def test_rating_after_the_window_does_not_reopen(db, reference):
    case = _closed(db, days_ago=8)
    cases.rate(db.session, case, "dissatisfied", "", utcnow())
    assert case.state == "closed" and case.rating == "dissatisfied"
    with pytest.raises(cases.CaseError):
        cases.rate(db.session, case, "satisfied", "", utcnow())


def test_only_cases_whose_work_is_done_can_be_rated(db, reference):
    case, _ = make_case(db.session)
    with pytest.raises(cases.CaseError):
        cases.rate(db.session, case, "satisfied", "", utcnow())
    with pytest.raises(cases.CaseError):
        cases.rate(db.session, _closed(db), "great", "", datetime.now(UTC))
    resolved = _resolved(db)
    assert cases.can_rate(resolved)
    cases.rate(db.session, resolved, "satisfied", "", utcnow())
    assert not cases.can_rate(resolved)


def _resolved(db) -> Case:
    case, _ = make_case(db.session)
    case.state, case.resolved_at = "resolved", utcnow()
    db.session.commit()
    return case


def test_fixed_at_resolved_rates_the_cycle_and_leaves_verification_to_staff(db, reference):
    case = _resolved(db)
    given = cases.rate(db.session, case, "dissatisfied", "修得慢", utcnow())
    db.session.commit()
    # Said fixed: the case waits for the office's check, even when the resident is unhappy.
    assert case.state == "resolved" and case.reopen_count == 0
    assert (given.cycle, given.rating, given.case_state) == (1, "dissatisfied", "resolved")
    assert case.rating == "dissatisfied"
    case.state, case.closed_at = "closed", utcnow()
    db.session.commit()
    assert not cases.can_rate(case)  # this cycle has its rating
    assert cases.can_reopen(case, utcnow())  # but "not fixed" stays possible


def test_not_fixed_at_resolved_sends_the_case_back_in_a_new_cycle(db, reference):
    case = _resolved(db)
    assert cases.can_reopen(case, utcnow())
    cases.reopen(db.session, case, "井盖还是松的", utcnow())
    db.session.commit()
    assert case.state in ("accepted", "dispatched") and case.cycle == 2
    assert case.resolved_at is None and case.resolve_due_at > utcnow()
    [event] = [e for e in case.events if e.kind == "reopened"]
    assert (event.from_state, event.body) == ("resolved", "井盖还是松的")
    # Once per case, by the resident's rules.
    case.state, case.resolved_at = "resolved", utcnow()
    db.session.commit()
    assert not cases.can_reopen(case, utcnow())
    with pytest.raises(cases.CaseError):
        cases.reopen(db.session, case, "还是不行", utcnow())


def test_each_cycle_gets_its_own_rating_and_the_latest_is_kept(db, reference):
    case = _closed(db)
    cases.rate(db.session, case, "dissatisfied", "还是坏的", utcnow())
    db.session.commit()
    assert case.cycle == 2 and not cases.can_rate(case)  # reopened: nothing to rate yet
    case.state, case.resolved_at, case.closed_at = "closed", utcnow(), utcnow()
    db.session.commit()
    assert cases.can_rate(case)  # fixed again: asked again
    cases.rate(db.session, case, "satisfied", "这次修好了", utcnow() + timedelta(minutes=1))
    db.session.commit()
    assert [(r.cycle, r.rating, r.comment) for r in case.ratings] == [
        (1, "dissatisfied", "还是坏的"),
        (2, "satisfied", "这次修好了"),
    ]
    assert case.rating == "satisfied"  # the one the KPIs count
    with pytest.raises(cases.CaseError):
        cases.rate(db.session, case, "dissatisfied", "", utcnow())


def test_one_rating_per_cycle_even_from_two_tabs(db, reference):
    case = _closed(db)
    db.session.add(CaseRating(case=case, cycle=1, rating="satisfied", created_at=utcnow()))
    db.session.add(CaseRating(case=case, cycle=1, rating="dissatisfied", created_at=utcnow()))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    "moment, year",
    [
        (datetime(2026, 12, 31, 16, 30, tzinfo=UTC), 2027),  # 00:30 on 1 January in Beijing
        (datetime(2026, 12, 31, 15, 59, tzinfo=UTC), 2026),  # 23:59 on 31 December
        (datetime(2027, 1, 1, 7, 59, tzinfo=UTC), 2027),
    ],
)
def test_case_numbers_take_the_beijing_year(db, reference, moment, year):
    case, _ = make_case(db.session, now=moment)
    assert case.number.startswith(f"{year}-")


def test_a_report_with_someones_id_number_is_flagged_for_staff(db, reference):
    flagged, _ = make_case(db.session, description="占道的人身份证11010519491231002X")
    plain, _ = make_case(db.session, position=(30.28, 120.16))
    assert "personal_data" in flagged.flags and "personal_data" not in plain.flags
