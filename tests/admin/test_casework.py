"""Working a case in the back office, as a dispatcher and a handler would."""

import io
import re

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Case, Department, OutboxMessage, utcnow
from portal.services import cases
from tests.factories import jpeg_bytes, make_case


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def road(db, reference):
    return db.session.scalar(select(Department).where(Department.code == "ROAD"))


def act(client, case, action, **data):
    data.setdefault("version", case.version_id)
    return client.post(
        f"/admin/cases/{case.number}/{action}", data=data, content_type="multipart/form-data"
    )


def test_dispatcher_triages_and_handler_resolves(client, db, auth, login_as, road):
    case, _ = make_case(
        db.session, category_code="0101", phone="13900000000", email="resident@example.cn"
    )
    dispatcher = login_as("dispatcher")
    queue = client.get("/admin/").get_data(as_text=True)
    assert case.number in queue
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert "13900000000" in page and "resident@example.cn" in page  # staff see the contact
    assert road.name_zh in page  # the suggested department
    assert act(client, case, "accept", priority="high").status_code == 303
    db.session.refresh(case)
    assert act(client, case, "route", department="ROAD").status_code == 303
    db.session.refresh(case)
    assert case.state == "dispatched" and case.department == road
    login_as("handler", department=road)
    assert act(client, case, "start").status_code == 303
    db.session.refresh(case)
    assert act(client, case, "reply", body="已安排维修").status_code == 303
    db.session.refresh(case)
    after = (io.BytesIO(jpeg_bytes(800, 600, "black")), "after.jpg")
    assert act(client, case, "resolve", body="已修补", photos=[after]).status_code == 303
    db.session.refresh(case)
    assert case.state == "resolved" and [p.kind for p in case.photos] == ["after"]
    auth.login(dispatcher)
    assert act(client, case, "close", body="核查通过").status_code == 303
    db.session.refresh(case)
    assert case.state == "closed"
    public = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "已安排维修" in public and "已结案" in public
    actors = db.session.scalars(
        select(AuditEntry.actor_id).where(AuditEntry.object_id == case.number)
    ).all()
    assert len(actors) == 6 and all(actors)


def test_a_stale_form_is_refused_with_a_clear_message(client, db, login_as, road):
    case, _ = make_case(db.session)
    login_as("dispatcher")
    old = case.version_id
    assert act(client, case, "accept", priority="normal").status_code == 303
    response = act(client, case, "reject", body="重复", version=old)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "已被他人修改" in page or "changed since you opened it" in page
    db.session.refresh(case)
    assert case.state == "accepted"


def test_refused_actions_change_nothing(client, db, login_as, road):
    case, _ = make_case(db.session)
    login_as("dispatcher")
    act(client, case, "close", body="")
    act(client, case, "reject", body="")
    act(client, case, "merge", target="2026-999999")
    db.session.refresh(case)
    assert case.state == "submitted"
    assert db.session.scalars(select(AuditEntry)).all() == []


def test_bulk_accept_and_route(client, db, login_as, road):
    cases = [make_case(db.session, position=(30.2741 + i / 1000, 120.1551))[0] for i in range(3)]
    login_as("dispatcher")
    numbers = [c.number for c in cases]
    client.post(
        "/admin/cases/bulk",
        data={
            "numbers": numbers[:2],
            "action": "accept",
            "priority": "normal",
            "department": "ROAD",
        },
    )
    client.post(
        "/admin/cases/bulk",
        data={"numbers": numbers, "action": "route", "priority": "normal", "department": "ROAD"},
    )
    states = [db.session.scalar(select(Case.state).where(Case.number == n)) for n in numbers]
    assert states == ["dispatched"] * 3


def test_offline_complaint_is_entered_with_its_channel(client, db, login_as, road):
    login_as("dispatcher")
    response = client.post(
        "/admin/cases/new",
        data={
            "channel": "phone",
            "category": "0301",
            "lat": "30.2741",
            "lng": "120.1551",
            "description": "市民来电：湖墅南路路灯不亮",
            "name": "王先生",
            "phone": "13700000000",
        },
    )
    assert response.status_code == 303
    case = db.session.scalars(select(Case)).one()
    assert case.source == "phone" and case.reporter_phone == "13700000000"
    assert db.session.scalar(select(AuditEntry.action)) == "case.enter"


def test_queue_filters_and_overdue_first(client, db, login_as, road):
    from datetime import timedelta

    late, _ = make_case(db.session, description="很久没人处理的坑")
    late.respond_due_at = late.created_at - timedelta(hours=1)
    fresh, _ = make_case(db.session, position=(30.276, 120.16))
    db.session.commit()
    login_as("dispatcher")
    page = client.get("/admin/").get_data(as_text=True)
    assert page.index(late.number) < page.index(fresh.number)
    overdue = client.get("/admin/?overdue=1").get_data(as_text=True)
    assert late.number in overdue and fresh.number not in overdue
    assert fresh.number not in client.get("/admin/?q=很久").get_data(as_text=True)
    assert client.get("/admin/?state=bogus&priority=x&page=99").status_code == 200


def test_escalation_mail_goes_to_the_outbox_not_the_request(client, db, login_as, road):
    case, _ = make_case(db.session, email="r@example.cn")
    login_as("dispatcher")
    act(client, case, "accept", priority="normal")
    mails = db.session.scalars(select(OutboxMessage.recipient)).all()
    assert mails.count("r@example.cn") == 2  # received, then accepted


def test_staff_see_each_cycles_rating_itself(client, db, login_as, road):
    case, _ = make_case(db.session)
    case.state, case.resolved_at = "resolved", utcnow()
    cases.rate(db.session, case, "basically_satisfied", "", utcnow())
    case.cycle, case.state, case.closed_at = 2, "closed", utcnow()
    cases.rate(db.session, case, "dissatisfied", "路面又裂了", utcnow())
    db.session.commit()
    login_as("dispatcher")
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    ratings = page[
        page.index('class="ratings"') : page.index("</table>", page.index('class="ratings"'))
    ]
    assert "基本满意" in ratings and "不满意" in ratings and "路面又裂了" in ratings
    assert "核查前已确认修好" in ratings  # the first was given at 已处置


def test_a_refused_stale_reply_keeps_the_text_and_shows_the_other_change(
    client, db, login_as, road
):
    from portal.services import workflow
    from tests.factories import make_user

    case, _ = make_case(db.session, category_code="0101")
    other = make_user(db.session, "dispatcher", name="李调度")
    login_as("dispatcher")
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    seen = re.search(r'name="seen" value="([^"]+)"', page).group(1)
    old = case.version_id
    workflow.accept(db.session, case, other, "urgent", utcnow())
    db.session.commit()
    response = act(client, case, "reply", body="我们明天派人去看", version=old, seen=seen)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert re.search(r'<textarea id="reply-body"[^>]*>我们明天派人去看</textarea>', page)
    changes = re.search(r'class="flash error stale-changes".*?</div>', page, re.S).group(0)
    assert "李调度" in changes and ("紧急" in changes or "Urgent" in changes)
    db.session.refresh(case)
    assert all(e.kind != "public_reply" for e in case.events)
    # The form now carries the current version: sent again, it goes through.
    assert f'name="version" value="{case.version_id}"' in page
    assert act(client, case, "reply", body="我们明天派人去看").status_code == 303


def test_a_handler_sends_back_and_asks_for_more_time_through_the_page(
    client, db, auth, login_as, road
):
    from portal.services import workflow
    from tests.factories import make_user

    first, _ = make_case(db.session, category_code="0101", position=(30.265, 120.14))
    second, _ = make_case(db.session, category_code="0101", position=(30.27, 120.15))
    dispatcher = make_user(db.session, "dispatcher")
    for case in (first, second):
        workflow.accept(db.session, case, dispatcher, "normal", utcnow())
        workflow.route(db.session, case, dispatcher, road, utcnow())
    db.session.commit()
    login_as("handler", department=road)
    assert act(client, first, "send_back", body="").status_code == 422  # a reason is needed
    db.session.refresh(first)
    assert first.state == "dispatched"
    assert act(client, first, "send_back", body="这是绿化问题").status_code == 303
    refused = act(client, second, "request_extension", body="等材料", hours="abc")
    assert refused.status_code == 422  # the page again, the reason kept in its form
    assert ">等材料</textarea>" in refused.get_data(as_text=True)
    db.session.refresh(second)
    assert second.extension_minutes is None
    assert act(client, second, "request_extension", body="等材料", hours="16").status_code == 303
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.state == "accepted" and first.department is None
    assert second.extension_minutes == 16 * 60
    due = second.resolve_due_at
    auth.login(dispatcher)
    assert first.number in client.get("/admin/?view=to_dispatch").get_data(as_text=True)
    assert second.number in client.get("/admin/").get_data(as_text=True)  # to decide
    assert act(client, second, "approve_extension").status_code == 303
    db.session.refresh(second)
    assert second.resolve_due_at > due and second.extension_minutes is None
    page = client.get(f"/admin/cases/{second.number}").get_data(as_text=True)
    assert "延期已批准" in page or "Extension approved" in page


@pytest.mark.parametrize("assignee", ["abc", "99999999999999999999", "-1", "0"])
def test_assigning_to_garbage_changes_nothing(client, db, login_as, road, assignee):
    from portal.services import workflow
    from tests.factories import make_user

    case, _ = make_case(db.session, category_code="0101")
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, "normal", utcnow())
    workflow.route(db.session, case, dispatcher, road, utcnow())
    db.session.commit()
    login_as("dispatcher")
    assert act(client, case, "assign", assignee=assignee).status_code == 422
    db.session.refresh(case)
    assert case.assignee_id is None


def test_the_timeline_says_what_changed(client, db, login_as, road):
    drain = db.session.scalar(select(Department).where(Department.name_zh == "排水管理所"))
    case, _ = make_case(db.session, category_code="0101")
    login_as("dispatcher")
    assert act(client, case, "accept", priority="normal").status_code == 303
    db.session.refresh(case)
    assert act(client, case, "set_priority", priority="high").status_code == 303
    db.session.refresh(case)
    assert act(client, case, "route", department=road.code).status_code == 303
    db.session.refresh(case)
    assert act(client, case, "route", department=drain.code).status_code == 303
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert "优先级：一般 → 较急" in page
    assert "派遣：道路养护所" in page and "派遣：道路养护所 → 排水管理所" in page
    public = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "派遣：道路养护所 → 排水管理所" in public and "优先级" not in public


def test_queue_search_covers_internal_notes_and_answers_bad_queries(client, db, login_as, road):
    case, _ = make_case(db.session, description="雨水篦子堵塞")
    other, _ = make_case(db.session, description="路灯不亮", position=(30.276, 120.16))
    dispatcher = login_as("dispatcher")
    from portal.services import workflow

    workflow.note(db.session, case, dispatcher, "先联系排水公司", utcnow())
    db.session.commit()
    found = client.get("/admin/?state=&q=排水公司").get_data(as_text=True)
    assert case.number in found and other.number not in found
    assert case.number not in client.get("/cases?q=排水公司").get_data(as_text=True)
    for q in ("井", "!" * 100, '" * NEAR OR', "NEAR(路灯*)", "{a}:b"):
        answer = client.get("/admin/", query_string={"state": "", "q": q})
        assert answer.status_code == 200
    assert "两个相连" in client.get("/admin/?state=&q=，，，").get_data(as_text=True)
