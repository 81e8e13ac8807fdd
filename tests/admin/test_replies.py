"""Admins manage reply templates; handlers see them on the case page."""

import pytest
from sqlalchemy import select

from portal.models import Department, ReplyTemplate
from tests.factories import make_case


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def test_admin_adds_a_template_for_a_group_and_deletes_it(client, db, login_as):
    login_as("admin")
    answer = client.post(
        "/admin/reply-templates",
        data={"scope": "group:02", "title": "汛期巡查", "body": "已加强巡查。"},
    )
    assert answer.status_code == 303
    template = db.session.scalar(select(ReplyTemplate).where(ReplyTemplate.title == "汛期巡查"))
    assert template.group.code == "02"
    page = client.get("/admin/reply-templates").get_data(as_text=True)
    assert "汛期巡查" in page and "已加强巡查。" in page
    template_id = template.id
    assert client.post(f"/admin/reply-templates/{template_id}/delete").status_code == 303
    db.session.expunge_all()
    assert db.session.scalar(select(ReplyTemplate).where(ReplyTemplate.id == template_id)) is None


def test_a_bad_template_is_refused_with_messages(client, db, login_as):
    login_as("admin")
    before = db.session.query(ReplyTemplate).count()
    answer = client.post(
        "/admin/reply-templates", data={"scope": "category:9999", "title": "", "body": "x"}
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "error" in page
    assert db.session.query(ReplyTemplate).count() == before
    answer = client.post(
        "/admin/reply-templates", data={"scope": "category:9999", "title": "t", "body": "x"}
    )
    assert answer.status_code == 422 and "请从列表中选择类别或类别组" in answer.get_data(
        as_text=True
    )


def test_the_case_page_offers_the_categorys_templates_first(client, db, login_as):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    login_as("handler", department=road)
    case, _ = make_case(db.session, category_code="0101")
    case.department, case.state = road, "dispatched"
    db.session.commit()
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    options = page[page.index('id="reply-template"') :]
    assert (
        options.index("坑槽已修补")
        < options.index("已派员查看路面")
        < options.index("需要补充信息")
    )
    assert "我们已收到您关于" in options  # the general replies still follow
