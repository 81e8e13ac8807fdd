"""The saved views of the queue: what each holds and how many, for each role."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.models import Case, Department, utcnow
from portal.services import queues, workflow
from tests.factories import make_case, make_user


@pytest.fixture
def office(db, reference):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    return {
        "road": road,
        "dispatcher": make_user(db.session, "dispatcher"),
        "handler": make_user(db.session, "handler", department=road),
    }


def spread(db, n):
    """Return n new cases at least 100 m apart inside the demo district."""
    return [make_case(db.session, position=(30.262 + i * 0.001, 120.14))[0] for i in range(n)]


def in_view(db, view, user, now):
    query = select(Case.number).where(queues.scope(user), queues.condition(view, user, now))
    return set(db.session.scalars(query))


def test_each_view_holds_the_cases_in_its_step(db, office):
    d, h, road, now = office["dispatcher"], office["handler"], office["road"], utcnow()
    new, accepted, working, waiting, done, assigned = spread(db, 6)
    for case in (accepted, working, waiting, done, assigned):
        workflow.accept(db.session, case, d, "normal", now)
    for case in (working, waiting, done, assigned):
        workflow.route(db.session, case, d, road, now)
    workflow.ask_info(db.session, waiting, h, "请补充照片", now)
    workflow.assign(db.session, assigned, h, h, now)
    workflow.resolve(db.session, done, h, "已修复", [], None, now)

    assert in_view(db, "submitted", d, now) == {new.number}
    assert in_view(db, "to_dispatch", d, now) == {accepted.number}
    assert in_view(db, "in_progress", d, now) == {working.number, assigned.number}
    assert in_view(db, "waiting", d, now) == {waiting.number}
    assert in_view(db, "to_verify", d, now) == {done.number}
    assert in_view(db, "mine", h, now) == {assigned.number}
    # The dispatcher starts on everything waiting for a dispatcher; the handler on the work.
    assert in_view(db, "todo", d, now) == {new.number, accepted.number, done.number}
    assert in_view(db, "todo", h, now) == {working.number, assigned.number}
    counts = queues.counts(db.session, d, now)
    assert counts["submitted"] == 1 and counts["to_dispatch"] == 1 and counts["todo"] == 3
    assert "mine" not in counts and "submitted" not in queues.counts(db.session, h, now)


def test_due_soon_overdue_and_reopened_follow_the_clocks(db, office):
    d, h, road, now = office["dispatcher"], office["handler"], office["road"], utcnow()
    soon, late, reworked = spread(db, 3)
    for case in (soon, late, reworked):
        workflow.accept(db.session, case, d, "normal", now)
        workflow.route(db.session, case, d, road, now)
    soon.resolve_due_at = now + timedelta(hours=3)
    late.resolve_due_at = now - timedelta(minutes=5)
    reworked.resolve_due_at = now + timedelta(days=5)
    workflow.resolve(db.session, reworked, h, "已修复", [], None, now)
    workflow.rework(db.session, reworked, d, "没修好", now)
    reworked.resolve_due_at = now + timedelta(days=5)
    db.session.flush()
    assert in_view(db, "due_soon", h, now) == {soon.number}
    assert in_view(db, "overdue", h, now) == {late.number}
    assert in_view(db, "reopened", h, now) == {reworked.number}


def test_a_handler_counts_only_the_own_department(db, office, reference):
    d, now = office["dispatcher"], utcnow()
    light = db.session.scalar(select(Department).where(Department.code == "LIGHT"))
    other = make_user(db.session, "handler", department=light)
    (case,) = spread(db, 1)
    workflow.accept(db.session, case, d, "normal", now)
    workflow.route(db.session, case, d, office["road"], now)
    assert queues.counts(db.session, office["handler"], now)["in_progress"] == 1
    assert queues.counts(db.session, other, now)["in_progress"] == 0


def test_the_navigation_counts_are_kept_until_a_case_is_written(db, office):
    d, now = office["dispatcher"], utcnow()
    (case,) = spread(db, 1)
    first = queues.cached_counts(db.session, d, now)
    assert first["submitted"] == queues.counts(db.session, d, now)["submitted"]
    # Written behind the ORM's back: the cache does not know, and keeps the count.
    db.session.execute(update(Case).where(Case.id == case.id).values(state="accepted"))
    db.session.commit()
    assert queues.cached_counts(db.session, d, now)["submitted"] == first["submitted"]
    queues.forget_counts()
    assert queues.cached_counts(db.session, d, now)["submitted"] == first["submitted"] - 1
    # Written through the ORM: the commit makes the next page count again.
    make_case(db.session, position=(30.28, 120.17))
    assert queues.cached_counts(db.session, d, now)["submitted"] == first["submitted"]


def test_outdated_counts_are_shown_while_a_thread_counts_again(app, db, office, monkeypatch):
    d, now = office["dispatcher"], utcnow()
    spread(db, 1)
    first = queues.cached_counts(db.session, d, now)
    app.config["QUEUE_COUNTS_BACKGROUND"] = True
    monkeypatch.setattr(queues, "COUNTS_TTL", 0)
    make_case(db.session, position=(30.28, 120.17))
    # The page does not wait: it shows the last counts, and a thread counts again.
    assert queues.cached_counts(db.session, d, now) == first
    for thread in queues.refresh_threads:
        thread.join(10)
    monkeypatch.setattr(queues, "COUNTS_TTL", 30)
    assert queues.cached_counts(db.session, d, now)["submitted"] == first["submitted"] + 1
