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


def dispatched(db, people, now):
    case, _ = make_case(db.session, category_code="0101", email="resident@example.cn")
    workflow.accept(db.session, case, people["dispatcher"], "normal", now)
    workflow.route(db.session, case, people["dispatcher"], people["road"], now)
    return case


def test_a_case_is_assigned_within_its_department_only(db, people):
    now = utcnow() + timedelta(seconds=1)  # after the report
    case = dispatched(db, people, now)
    workflow.assign(db.session, case, people["handler"], people["handler"], now)
    assert case.assignee == people["handler"]
    assert case.events[-1].kind == "assigned" and not case.events[-1].public
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.assign(db.session, case, people["dispatcher"], people["other_handler"], now)
    assert refused.value.code == "assignee" and case.assignee == people["handler"]
    workflow.assign(db.session, case, people["dispatcher"], None, now)
    assert case.assignee is None


def test_a_handler_sends_a_misrouted_case_back_to_the_dispatchers(db, people):
    now = utcnow() + timedelta(seconds=1)  # after the report
    case = dispatched(db, people, now)
    with pytest.raises(workflow.WorkflowError):
        workflow.send_back(db.session, case, people["handler"], "  ", now)
    assert "send_back" not in workflow.allowed(case, people["dispatcher"])
    workflow.send_back(db.session, case, people["handler"], "这是路灯，不归道路养护", now)
    assert case.state == "accepted" and case.department is None
    event = case.events[-1]
    assert event.kind == "sent_back" and not event.public and event.data["department"] == "ROAD"
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id)).all()
    assert [m.recipient for m in mail if m.kind == "staff.sent_back"] == [
        people["dispatcher"].email
    ]
    assert not [m for m in mail if m.kind.startswith("resident.sent_back")]
    assert "route" in workflow.allowed(case, people["dispatcher"])


def test_an_extension_is_asked_then_approved_or_declined(db, people):
    now = utcnow() + timedelta(seconds=1)  # after the report
    case = dispatched(db, people, now)
    h, d = people["handler"], people["dispatcher"]
    assert "approve_extension" not in workflow.allowed(case, d)
    due = case.resolve_due_at
    workflow.request_extension(db.session, case, h, "需等待材料到货", 8 * 60, now)
    assert case.extension_minutes == 480 and case.resolve_due_at == due
    assert "request_extension" not in workflow.allowed(case, h)  # one request at a time
    assert {"approve_extension", "decline_extension"} <= set(workflow.allowed(case, d))
    with pytest.raises(workflow.WorkflowError):
        workflow.decide_extension(db.session, case, d, False, "", now)  # a refusal says why
    workflow.decide_extension(db.session, case, d, True, "", now)
    assert case.extension_minutes is None and case.resolve_due_at > due
    approved = case.events[-1]
    assert approved.kind == "extension_approved" and approved.data["minutes"] == 480
    heard = db.session.scalars(
        select(OutboxMessage.recipient).where(OutboxMessage.kind == "staff.extension_approved")
    ).all()
    assert heard == [h.email]
    moved = case.resolve_due_at
    workflow.request_extension(db.session, case, h, "再延一天", 7 * 60, now)
    workflow.decide_extension(db.session, case, d, False, "已经延过一次", now)
    assert case.resolve_due_at == moved and case.events[-1].kind == "extension_declined"
    with pytest.raises(workflow.WorkflowError):
        workflow.request_extension(db.session, case, h, "太久", 10**7, now)


def test_the_residents_news_reaches_the_assignee_and_raises_the_case(db, people):
    from portal.services import cases

    now = utcnow() + timedelta(seconds=1)  # after the report
    case = dispatched(db, people, now)
    workflow.assign(db.session, case, people["handler"], people["handler"], now)
    workflow.ask_info(db.session, case, people["handler"], "请补充照片", now)
    workflow.resume(db.session, case, None, "照片在这里", now)
    assert case.attention_at == now
    workflow.resolve(db.session, case, people["handler"], "已修复", [], None, now)
    assert case.attention_at is None  # staff acted on it
    cases.reopen(db.session, case, "根本没修", now)
    assert case.attention_at == now and case.state == "dispatched"
    kinds = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.recipient == people["handler"].email)
    ).all()
    assert "staff.info_provided" in kinds and "staff.reopened" in kinds
