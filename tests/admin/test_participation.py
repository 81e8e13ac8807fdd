"""The back office: opening consultations, moderating comments, responding, and deciding
suggestions."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Consultation, ConsultationComment, Suggestion, utcnow
from portal.services import consultations, suggestions
from tests.factories import make_consultation, make_project, make_user


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False, "SUGGESTION_POINTS": 4}


def last_action(db) -> str:
    return db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first().action


def test_a_dispatcher_opens_a_consultation_on_a_planned_project(client, db, login_as):
    login_as("dispatcher")
    planned = make_project(db.session, phase="tender", name="信义坊配套道路")
    make_project(db.session, phase="construction", name="正在施工的工程")
    form = client.get("/admin/consultations/new").get_data(as_text=True)
    assert "信义坊配套道路" in form and "正在施工的工程" not in form
    closes = (utcnow() + timedelta(days=14)).date()
    response = client.post(
        "/admin/consultations/new",
        data={
            "project": planned.code,
            "title": "配套道路设计方案征求意见",
            "question": "请就信号灯设置提出意见。",
            "closes_on": closes.isoformat(),
        },
    )
    assert response.status_code == 303
    made = db.session.scalars(select(Consultation)).one()
    assert (made.project, made.closes_on) == (planned, closes)
    assert last_action(db) == "consultation.open"
    assert "配套道路设计方案征求意见" in client.get("/consultations").get_data(as_text=True)


def test_a_past_closing_date_is_refused_with_a_message(client, db, login_as):
    login_as("admin")
    planned = make_project(db.session)
    response = client.post(
        "/admin/consultations/new",
        data={
            "project": planned.code,
            "title": "标题",
            "question": "问题",
            "closes_on": (utcnow() - timedelta(days=3)).date().isoformat(),
        },
    )
    assert response.status_code == 422
    assert "截止日期不能早于今天。" in response.get_data(as_text=True)
    assert db.session.scalar(select(Consultation)) is None


def test_moderation_queue_publish_and_decline_with_reason(client, db, login_as):
    dispatcher = login_as("dispatcher")
    consultation = make_consultation(db.session, dispatcher, opened=utcnow() - timedelta(hours=2))
    good, _ = consultations.add_comment(
        db.session, consultation, "支持改造。", utcnow(), email="hidden@example.cn"
    )
    bad, _ = consultations.add_comment(db.session, consultation, "广告广告。", utcnow())
    db.session.commit()
    queue = client.get("/admin/consultations").get_data(as_text=True)
    assert "支持改造。" in queue and "广告广告。" in queue
    assert "hidden@example.cn" in queue  # staff see the private contact
    assert client.post(f"/admin/comments/{good.id}/approve").status_code == 303
    refused = client.post(
        f"/admin/comments/{bad.id}/decline", data={"reason": ""}, follow_redirects=True
    )
    assert "请填写理由。" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ConsultationComment, bad.id).status == "pending"
    client.post(f"/admin/comments/{bad.id}/decline", data={"reason": "含有广告。"})
    db.session.expire_all()
    assert db.session.get(ConsultationComment, good.id).status == "approved"
    declined = db.session.get(ConsultationComment, bad.id)
    assert (declined.status, declined.reason) == ("declined", "含有广告。")
    assert last_action(db) == "consultation.comment.decline"
    assert "没有待审核的意见。" in client.get("/admin/consultations").get_data(as_text=True)


def test_the_response_waits_for_the_close(client, db, login_as):
    dispatcher = login_as("dispatcher")
    running = make_consultation(db.session, dispatcher)
    page = client.get(f"/admin/consultations/{running.id}").get_data(as_text=True)
    assert "意见征集截止后方可发布答复。" in page
    refused = client.post(
        f"/admin/consultations/{running.id}/response",
        data={"response": "答复。"},
        follow_redirects=True,
    )
    assert "意见征集尚未结束" in refused.get_data(as_text=True)
    closed = make_consultation(db.session, dispatcher, opened=utcnow() - timedelta(days=20), days=5)
    client.post(f"/admin/consultations/{closed.id}/response", data={"response": "已采纳。"})
    db.session.expire_all()
    assert db.session.get(Consultation, running.id).response == ""
    assert db.session.get(Consultation, closed.id).response == "已采纳。"
    assert last_action(db) == "consultation.respond"


def test_staff_adopt_and_decline_suggestions(client, db, login_as):
    login_as("dispatcher")
    supervisor = make_user(db.session, role="supervisor")
    mine, _ = suggestions.send(
        db.session, "增设座椅", "慢行道增设座椅。", utcnow(), user=supervisor
    )
    other, _ = suggestions.send(
        db.session, "兑换公交卡", "积分兑换。", utcnow(), phone="13800000000"
    )
    db.session.commit()
    listing = client.get("/admin/suggestions").get_data(as_text=True)
    assert "增设座椅" in listing and "13800000000" in listing
    client.post(f"/admin/suggestions/{mine.id}/adopt", data={"reason": "采纳，已列入计划。"})
    client.post(f"/admin/suggestions/{other.id}/decline", data={"reason": ""})
    db.session.expire_all()
    assert db.session.get(Suggestion, other.id).status == "new"
    client.post(f"/admin/suggestions/{other.id}/decline", data={"reason": "暂不支持。"})
    db.session.expire_all()
    assert db.session.get(Suggestion, mine.id).status == "adopted"
    assert db.session.get(type(supervisor), supervisor.id).points == 4
    assert db.session.get(Suggestion, other.id).status == "declined"
    assert last_action(db) == "suggestion.decline"
    # Deciding again changes nothing and awards no second points.
    client.post(f"/admin/suggestions/{mine.id}/adopt", data={"reason": "再次采纳。"})
    db.session.expire_all()
    assert db.session.get(type(supervisor), supervisor.id).points == 4


@pytest.mark.parametrize("path", ["/admin/consultations", "/admin/suggestions"])
def test_handlers_cannot_moderate(client, db, login_as, path):
    login_as("handler")
    assert client.get(path).status_code == 403
