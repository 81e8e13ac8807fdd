"""Every staff action on a case: who may, from which state, and what it leaves behind."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, CaseFollower, Department, OutboxMessage, utcnow
from portal.services import workflow
from portal.services.photos import PhotoStore
from tests.factories import jpeg_photo, make_case, make_user


@pytest.fixture
def people(db, reference):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    light = db.session.scalar(select(Department).where(Department.code == "LIGHT"))
    return {
        "dispatcher": make_user(db.session, "dispatcher"),
        "handler": make_user(db.session, "handler", department=road),
        "other_handler": make_user(db.session, "handler", department=light),
        "road": road,
        "light": light,
    }


def test_the_whole_lifecycle_is_timed_public_and_audited(app, db, people):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    case, _ = make_case(db.session, category_code="0101", email="resident@example.cn")
    assert case.suggested_department == people["road"]
    d, h, now = people["dispatcher"], people["handler"], utcnow()
    workflow.accept(db.session, case, d, "high", now)
    assert case.state == "accepted" and case.responded_at == now and case.priority == "high"
    workflow.route(db.session, case, d, people["road"], now)
    workflow.start(db.session, case, h, now)
    workflow.reply(db.session, case, h, "已安排人员明天修补。", now)
    workflow.note(db.session, case, h, "需要沥青两袋", now)
    workflow.resolve(db.session, case, h, "已修补完成。", [jpeg_photo("black")], store, now)
    assert case.state == "resolved" and case.resolved_at == now
    assert [p.kind for p in case.photos] == ["after"]
    workflow.close(db.session, case, d, "核查通过", now)
    db.session.commit()
    assert case.state == "closed"
    kinds = [(e.kind, e.public) for e in case.events]
    assert ("internal_note", False) in kinds and ("public_reply", True) in kinds
    assert [e.to_state for e in case.events if e.to_state] == [
        "submitted",
        "accepted",
        "dispatched",
        "in_progress",
        "resolved",
        "closed",
    ]
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_id == case.number)
    ).all()
    assert actions == [
        "case.accept",
        "case.route",
        "case.start",
        "case.reply",
        "case.note",
        "case.resolve",
        "case.close",
    ]
    mails = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == "resident@example.cn")
    ).all()
    # Received, accepted, dispatched, started, replied, resolved, closed: the note is private.
    assert len(mails) == 7 and all(case.number in m.subject for m in mails)


def test_illegal_transitions_are_refused_by_the_service(db, people):
    case, _ = make_case(db.session)
    d, h = people["dispatcher"], people["handler"]
    with pytest.raises(workflow.WorkflowError):
        workflow.close(db.session, case, d, "", utcnow())
    with pytest.raises(workflow.WorkflowError):
        workflow.start(db.session, case, d, utcnow())
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.accept(db.session, case, h, "normal", utcnow())
    assert refused.value.code == "forbidden"
    with pytest.raises(workflow.WorkflowError):
        workflow.reject(db.session, case, d, "   ", utcnow())
    assert case.state == "submitted"


def test_a_handler_acts_only_on_their_departments_cases(db, people):
    case, _ = make_case(db.session)
    workflow.route(db.session, case, people["dispatcher"], people["road"], utcnow())
    assert workflow.allowed(case, people["other_handler"]) == []
    assert not workflow.can_see(case, people["other_handler"])
    with pytest.raises(workflow.WorkflowError):
        workflow.start(db.session, case, people["other_handler"], utcnow())
    assert "start" in workflow.allowed(case, people["handler"])
    assert "route" not in workflow.allowed(case, people["handler"])


def test_the_second_official_gets_a_stale_case(db, people):
    case, _ = make_case(db.session)
    seen = case.version_id
    workflow.accept(db.session, case, people["dispatcher"], "normal", utcnow(), version=seen)
    db.session.commit()
    with pytest.raises(workflow.StaleCase):
        workflow.reject(db.session, case, people["dispatcher"], "重复", utcnow(), version=seen)


def test_reject_is_public_with_its_reason(db, people):
    case, _ = make_case(db.session)
    workflow.reject(db.session, case, people["dispatcher"], "不属于本处管辖", utcnow())
    assert case.state == "rejected" and case.events[-1].public
    assert case.events[-1].body == "不属于本处管辖"


def test_merge_moves_the_followers(db, people):
    target, _ = make_case(db.session)
    duplicate, _ = make_case(db.session)
    db.session.add(CaseFollower(case_id=duplicate.id, email="f@example.cn"))
    duplicate.followers_count = 1
    db.session.commit()
    workflow.merge(db.session, duplicate, people["dispatcher"], target, utcnow())
    db.session.commit()
    assert duplicate.state == "duplicate" and duplicate.merged_into == target
    assert target.followers_count == 2
    assert db.session.scalar(select(CaseFollower.case_id)) == target.id
    with pytest.raises(workflow.WorkflowError):
        workflow.merge(db.session, target, people["dispatcher"], target, utcnow())


def test_asking_for_information_pauses_the_clocks(db, people):
    case, _ = make_case(db.session)
    d, now = people["dispatcher"], utcnow()
    workflow.accept(db.session, case, d, "normal", now)
    due = case.resolve_due_at
    workflow.ask_info(db.session, case, d, "请补充具体门牌号", now)
    assert case.paused_at == now and case.resolve_check_at is None
    assert "ask_info" not in workflow.allowed(case, d)
    later = now + timedelta(days=3)
    workflow.resume(db.session, case, None, "湖墅南路128号", later)
    assert case.paused_at is None
    assert case.resolve_due_at > due  # shifted by the pause
    assert [e.kind for e in case.events][-2:] == ["info_requested", "info_provided"]


def test_rework_sends_resolved_work_back_with_a_new_deadline(db, people):
    case, _ = make_case(db.session)
    d, h, now = people["dispatcher"], people["handler"], utcnow()
    workflow.route(db.session, case, d, people["road"], now)
    workflow.resolve(db.session, case, h, "完成", [], PhotoStore("/nonexistent"), now)
    later = now + timedelta(days=1)
    workflow.rework(db.session, case, d, "现场仍有积水", later)
    assert case.state == "dispatched" and case.resolved_at is None
    assert case.resolve_due_at > later
    assert case.cycle == 2  # fixed again, it asks the resident for a new rating


def test_priority_change_recomputes_the_deadlines(db, people):
    case, _ = make_case(db.session, category_code="0103")  # low priority by default
    low_due = case.resolve_due_at
    workflow.set_priority(db.session, case, people["dispatcher"], "urgent", utcnow())
    assert case.resolve_due_at < low_due


def test_reclassifying_recomputes_deadlines_and_the_department(db, people):
    case, _ = make_case(db.session, category_code="0101")
    from tests.factories import category

    workflow.set_category(
        db.session, case, people["dispatcher"], category(db.session, "0401"), utcnow()
    )
    assert case.category.code == "0401" and case.major_hazard
    assert case.suggested_department.code == "EMERG"
    assert case.resolve_due_at - case.created_at <= timedelta(hours=24)
