"""Working a case in the back office, as a dispatcher and a handler would."""

import io

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
    page = client.get(response.headers["Location"]).get_data(as_text=True)
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
