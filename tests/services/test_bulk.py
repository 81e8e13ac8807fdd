"""Bulk actions: each case on its own, only what was chosen changes."""

import pytest
from sqlalchemy import func, select

from portal.models import AuditEntry, Department, utcnow
from portal.services import bulk, workflow
from tests.factories import make_case, make_user


@pytest.fixture
def office(db, reference):
    return {
        "road": db.session.scalar(select(Department).where(Department.code == "ROAD")),
        "light": db.session.scalar(select(Department).where(Department.code == "LIGHT")),
        "dispatcher": make_user(db.session, "dispatcher"),
        "admin": make_user(db.session, "admin"),
    }


def two_cases(db):
    low, _ = make_case(db.session, category_code="0101", position=(30.265, 120.14))
    normal, _ = make_case(db.session, category_code="0101", position=(30.27, 120.15))
    low.priority = "low"
    db.session.flush()
    return low, normal


def test_bulk_accept_keeps_each_priority_and_deadline_when_none_is_chosen(db, office):
    low, normal = two_cases(db)
    before = {c.number: (c.priority, c.resolve_due_at, c.department_id) for c in (low, normal)}
    versions = {c.number: c.version_id for c in (low, normal)}
    outcomes = bulk.apply(db.session, office["dispatcher"], "accept", versions, utcnow())
    assert [o.done for o in outcomes] == [True, True]
    for case in (low, normal):
        assert case.state == "accepted"
        assert (case.priority, case.resolve_due_at, case.department_id) == before[case.number]
    assert (low.priority, normal.priority) == ("low", "normal")


def test_bulk_route_sends_each_case_to_its_suggested_department(db, office):
    low, normal = two_cases(db)
    versions = {c.number: c.version_id for c in (low, normal)}
    bulk.apply(db.session, office["dispatcher"], "route", versions, utcnow())
    assert low.department == office["road"] == low.suggested_department
    assert (low.priority, normal.priority) == ("low", "normal")


def test_a_stale_case_is_refused_with_the_other_change_and_the_rest_go_through(db, office):
    low, normal = two_cases(db)
    versions = {c.number: c.version_id for c in (low, normal)}
    now = utcnow()
    workflow.route(db.session, low, office["admin"], office["light"], now)  # someone else
    outcomes = bulk.apply(db.session, office["dispatcher"], "route", versions, now)
    refused, done = outcomes
    assert not refused.done and refused.reason == "stale"
    assert refused.change.actor == office["admin"] and refused.change.kind == "dispatched"
    assert done.done and normal.department == office["road"]
    assert low.department == office["light"]  # the admin's routing stands
    audited = db.session.scalars(
        select(AuditEntry.object_id).where(
            AuditEntry.action == "case.route", AuditEntry.actor_id == office["dispatcher"].id
        )
    ).all()
    assert audited == [normal.number]  # one entry per case done, none for the refused one


def test_a_case_refused_for_its_state_changes_nothing_and_says_why(db, office):
    low, normal = two_cases(db)
    workflow.reject(db.session, low, office["dispatcher"], "重复", utcnow())
    versions = {low.number: low.version_id, normal.number: normal.version_id, "2026-999999": 1}
    count = db.session.scalar(select(func.count(AuditEntry.id)))
    outcomes = bulk.apply(db.session, office["dispatcher"], "accept", versions, utcnow(), "high")
    assert [(o.done, o.reason) for o in outcomes] == [
        (False, "state"),
        (True, ""),
        (False, "missing"),
    ]
    assert low.state == "rejected" and normal.priority == "high"
    assert db.session.scalar(select(func.count(AuditEntry.id))) == count + 1


def test_a_bulk_priority_change_needs_a_priority(db, office):
    low, _ = two_cases(db)
    with pytest.raises(workflow.WorkflowError):
        bulk.apply(db.session, office["dispatcher"], "set_priority", {low.number: 1}, utcnow())
