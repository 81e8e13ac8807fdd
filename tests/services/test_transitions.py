"""Every action in every state: the lifecycle of DESIGN.md, allowed and refused by the service."""

import pytest
from sqlalchemy import select

from portal.models import Category, Department, utcnow
from portal.services import workflow
from portal.services.photos import PhotoStore
from tests.factories import make_case, make_user

# What a dispatcher may do in each state while the clocks run (DESIGN.md's lifecycle).
DISPATCHER = {
    "submitted": {
        "accept",
        "route",
        "reply",
        "note",
        "set_priority",
        "set_category",
        "reject",
        "merge",
    },
    "accepted": {
        "route",
        "reply",
        "ask_info",
        "note",
        "set_priority",
        "set_category",
        "reject",
        "merge",
    },
    "dispatched": {
        "route",
        "start",
        "reply",
        "resolve",
        "ask_info",
        "note",
        "set_priority",
        "set_category",
        "merge",
    },
    "in_progress": {
        "route",
        "reply",
        "resolve",
        "ask_info",
        "note",
        "set_priority",
        "set_category",
    },
    "resolved": {"reply", "close", "rework", "note"},
    "closed": {"note"},
    "rejected": {"note"},
    "duplicate": {"note"},
}
# A handler works their department's cases but never triages, closes or sends back.
HANDLER = {"start", "reply", "note", "ask_info", "resume", "resolve"}
ACTIONS = sorted(set().union(*DISPATCHER.values()) | {"resume"})


def perform(db, action: str, case, user, now, road, other_category, target):
    calls = {
        "accept": lambda: workflow.accept(db.session, case, user, "high", now),
        "route": lambda: workflow.route(db.session, case, user, road, now),
        "start": lambda: workflow.start(db.session, case, user, now),
        "reply": lambda: workflow.reply(db.session, case, user, "已安排人员处理。", now),
        "resolve": lambda: workflow.resolve(
            db.session, case, user, "已修复。", [], PhotoStore("/nonexistent"), now
        ),
        "close": lambda: workflow.close(db.session, case, user, "核查通过。", now),
        "rework": lambda: workflow.rework(db.session, case, user, "仍未修好。", now),
        "ask_info": lambda: workflow.ask_info(db.session, case, user, "请补充照片。", now),
        "resume": lambda: workflow.resume(db.session, case, user, "继续处理。", now),
        "note": lambda: workflow.note(db.session, case, user, "内部备注", now),
        "set_priority": lambda: workflow.set_priority(db.session, case, user, "low", now),
        "set_category": lambda: workflow.set_category(db.session, case, user, other_category, now),
        "reject": lambda: workflow.reject(db.session, case, user, "不属于本处职责。", now),
        "merge": lambda: workflow.merge(db.session, case, user, target, now),
    }
    return calls[action]()


@pytest.fixture
def setting(db, reference):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    other = db.session.scalar(select(Category).where(Category.code == "0102"))
    target, _ = make_case(db.session, category_code="0101", position=(30.30, 120.20))
    return road, other, target


def case_in(db, state: str, road, paused: bool = False):
    case, _ = make_case(db.session, category_code="0101")
    now = utcnow()
    case.state, case.department = state, road
    if state in ("resolved", "closed"):
        case.resolved_at = now
    if state == "closed":
        case.closed_at = now
    if paused:
        case.paused_at = now
    db.session.commit()
    return case


@pytest.mark.parametrize("state", list(DISPATCHER))
def test_a_dispatcher_may_do_exactly_what_the_lifecycle_allows(db, setting, state):
    road, other, target = setting
    dispatcher = make_user(db.session, "dispatcher")
    for action in ACTIONS:
        case = case_in(db, state, road)
        if action in DISPATCHER[state]:
            perform(db, action, case, dispatcher, utcnow(), road, other, target)
        else:
            with pytest.raises(workflow.WorkflowError) as refused:
                perform(db, action, case, dispatcher, utcnow(), road, other, target)
            assert refused.value.code == "state", (state, action)
            assert case.state == state  # nothing changed
        db.session.rollback()


@pytest.mark.parametrize("state", list(DISPATCHER))
def test_a_handler_may_do_only_the_handling_of_their_departments_cases(db, setting, state):
    road, _other, _target = setting
    drain = db.session.scalar(select(Department).where(Department.code == "DRAIN"))
    own = make_user(db.session, "handler", department=road)
    stranger = make_user(db.session, "handler", department=drain)
    case = case_in(db, state, road)
    # The department also assigns within itself, sends a misrouted case back, asks for time.
    working = state in ("dispatched", "in_progress")
    own_steps = {"assign", "send_back", "request_extension"} if working else set()
    assert set(workflow.allowed(case, own)) == (DISPATCHER[state] & HANDLER) | own_steps
    assert workflow.allowed(case, stranger) == []
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.note(db.session, case, stranger, "越权", utcnow())
    assert refused.value.code == "forbidden"


def test_while_paused_the_case_can_be_resumed_but_not_paused_again(db, setting):
    road, _other, _target = setting
    dispatcher = make_user(db.session, "dispatcher")
    case = case_in(db, "dispatched", road, paused=True)
    assert "resume" in workflow.allowed(case, dispatcher)
    assert "ask_info" not in workflow.allowed(case, dispatcher)
    with pytest.raises(workflow.WorkflowError):
        workflow.ask_info(db.session, case, dispatcher, "再问一次", utcnow())
    workflow.resume(db.session, case, dispatcher, "继续处理。", utcnow())
    assert case.paused_at is None


def test_a_supervisor_may_act_only_on_their_own_findings(db, setting):
    road, _other, _target = setting
    supervisor = make_user(db.session, "supervisor")
    case = case_in(db, "resolved", road)
    assert workflow.allowed(case, supervisor) == []  # a resident's case, not a finding
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.close(db.session, case, supervisor, "核查", utcnow())
    assert refused.value.code == "forbidden"
