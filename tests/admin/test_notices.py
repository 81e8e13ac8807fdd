"""Dispatchers and admins write, preview, publish, schedule and withdraw notices."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Notice, utcnow
from tests.factories import jpeg_bytes, make_case, make_notice, make_project


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def write(client, **fields):
    data = {"title": "大关路道路提升工程开工", "kind": "progress", "body": "计划工期 **八个月**。"}
    data.update(fields)
    return client.post("/admin/notices/new", data=data, content_type="multipart/form-data")


def test_who_may_enter(client, db, login_as):
    assert "/login" in client.get("/admin/notices").headers["Location"]
    login_as("handler")
    assert client.get("/admin/notices").status_code == 403
    assert write(client).status_code == 403
    assert db.session.scalar(select(Notice)) is None
    login_as("supervisor")
    assert client.get("/admin/notices/new").status_code == 403
    login_as("dispatcher")
    assert client.get("/admin/notices").status_code == 200
    login_as("admin")
    assert client.get("/admin/notices/new").status_code == 200


def test_a_dispatcher_writes_previews_and_publishes(client, db, login_as):
    user = login_as("dispatcher")
    project = make_project(db.session, "GS-2026-02", name="大关路道路提升工程")
    case, _ = make_case(db.session)
    response = write(
        client,
        project=project.code,
        cases=f"{case.number}",
        body="## 施工内容\n\n1. 路面铣刨重铺\n\n<script>alert(1)</script>",
        cover=(io.BytesIO(jpeg_bytes()), "cover.jpg"),
    )
    assert response.status_code == 303
    notice = db.session.scalar(select(Notice))
    assert notice.author_id == user.id and notice.zone.code == "GS-MS" and notice.cover_sha256
    preview = client.get(response.headers["Location"]).get_data(as_text=True)
    assert (
        "草稿" in preview and "<h2>施工内容</h2>" in preview and "<li>路面铣刨重铺</li>" in preview
    )
    assert "<script>alert" not in preview and case.number in preview
    cover = client.get(f"/admin/notices/{notice.id}/cover.jpg")
    assert cover.status_code == 200 and cover.mimetype == "image/jpeg"
    cover.close()
    assert client.get(f"/notices/{notice.id}").status_code == 404  # not yet public
    listing = client.get("/admin/notices").get_data(as_text=True)
    assert notice.title in listing and "草稿" in listing
    assert (
        client.post(f"/admin/notices/{notice.id}/publish", data={"when": "now"}).status_code == 303
    )
    db.session.refresh(notice)
    assert notice.status(utcnow()) == "published"
    assert notice.title in client.get("/notices").get_data(as_text=True)
    assert "已发布" in client.get("/admin/notices").get_data(as_text=True)
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "notice").order_by(AuditEntry.id)
    ).all()
    assert actions == ["notice.create", "notice.publish"]


def test_unknown_cases_and_missing_text_are_refused(client, db, login_as):
    login_as("dispatcher")
    response = write(client, cases="2026-999999")
    assert response.status_code == 422 and "案件不存在：2026-999999" in response.get_data(
        as_text=True
    )
    assert write(client, title="").status_code == 422
    assert write(client, kind="gossip").status_code == 422
    assert db.session.scalar(select(Notice)) is None


def test_a_time_entered_in_beijing_is_stored_in_utc(client, db, login_as):
    user = login_as("dispatcher")
    notice = make_notice(db.session, user)
    tomorrow = (utcnow() + timedelta(days=1)).astimezone(UTC)
    local = (tomorrow + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/admin/notices/{notice.id}/publish", data={"when": "at", "publish_at": local}
    )
    assert response.status_code == 303
    db.session.refresh(notice)
    expected = datetime.fromisoformat(local).replace(tzinfo=UTC) - timedelta(hours=8)
    assert notice.publish_at == expected and notice.status(utcnow()) == "scheduled"
    page = client.get(f"/admin/notices/{notice.id}").get_data(as_text=True)
    assert "待发布" in page and local in page  # shown back in Beijing time
    assert client.get(f"/notices/{notice.id}").status_code == 404
    past = (utcnow() + timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M")  # an hour ago, Beijing
    client.post(f"/admin/notices/{notice.id}/publish", data={"when": "at", "publish_at": past})
    db.session.refresh(notice)
    assert notice.publish_at == expected
    client.post(f"/admin/notices/{notice.id}/publish", data={"when": "at", "publish_at": ""})
    db.session.refresh(notice)
    assert notice.publish_at == expected
    assert client.post(f"/admin/notices/{notice.id}/unschedule").status_code == 303
    db.session.refresh(notice)
    assert notice.status(utcnow()) == "draft"


def test_withdrawal_needs_a_reason_and_published_notices_are_not_edited(client, db, login_as):
    user = login_as("admin")
    notice = make_notice(db.session, user, publish_at=utcnow() - timedelta(days=1))
    refused = client.post(f"/admin/notices/{notice.id}/withdraw", data={"reason": ""})
    assert refused.status_code == 422 and "请填写撤回原因" in refused.get_data(as_text=True)
    assert notice.withdrawn_at is None
    edit = client.get(f"/admin/notices/{notice.id}/edit")
    assert edit.status_code == 303
    edit = client.post(
        f"/admin/notices/{notice.id}/edit", data={"title": "改", "kind": "progress", "body": "改"}
    )
    db.session.refresh(notice)
    assert edit.status_code == 303 and notice.title != "改"
    response = client.post(
        f"/admin/notices/{notice.id}/withdraw", data={"reason": "数据有误，将重新发布。"}
    )
    assert response.status_code == 303
    db.session.refresh(notice)
    assert notice.withdraw_reason == "数据有误，将重新发布。" and notice.withdrawn_by_id == user.id
    public = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "数据有误，将重新发布。" in public and "已撤回" in public
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "notice.withdraw"))
    assert entry.actor_id == user.id and entry.object_id == str(notice.id)


def test_a_draft_is_edited_with_its_cases_kept(client, db, login_as):
    user = login_as("dispatcher")
    case, _ = make_case(db.session)
    notice = make_notice(db.session, user, case_numbers=(case.number,))
    form = client.get(f"/admin/notices/{notice.id}/edit").get_data(as_text=True)
    assert case.number in form and notice.title in form
    response = client.post(
        f"/admin/notices/{notice.id}/edit",
        data={"title": "修改后的标题", "kind": "traffic", "body": "正文", "cases": case.number},
    )
    assert response.status_code == 303
    db.session.refresh(notice)
    assert notice.title == "修改后的标题" and notice.kind == "traffic" and notice.cases == [case]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "notice.update"))
    assert entry.before["title"] != entry.after["title"] == "修改后的标题"
