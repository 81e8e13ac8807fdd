"""Suggestions on the public site: sending, the private link, the public list of adopted ones."""

import re

import pytest
from sqlalchemy import func, select

from portal.models import Suggestion, utcnow
from portal.services import suggestions
from tests.factories import make_project, make_user


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False, "SUGGESTION_POINTS": 5}


@pytest.fixture
def staff(db):
    return make_user(db.session, role="dispatcher")


def count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Suggestion))


def test_a_resident_sends_a_suggestion_and_sees_it_adopted_with_points(client, db, staff):
    project = make_project(db.session, phase="construction", name="大关路道路提升工程")
    form = client.get(f"/suggestions/new?project={project.code}").get_data(as_text=True)
    assert "大关路道路提升工程" in form and "selected" in form
    response = client.post(
        "/suggestions/new",
        data={
            "title": "围挡转角增设警示灯",
            "body": "晚上围挡转角很暗，骑车经过很危险。",
            "project": project.code,
            "email": "Li@Example.cn",
        },
    )
    assert response.status_code == 303
    sent = client.get(response.headers["Location"]).get_data(as_text=True)
    site = re.escape(client.application.config["PUBLIC_URL"])  # links name the site
    link = re.search(f'value="({site}/suggestions/track/[^"]+)"', sent).group(1)
    tracking = client.get(link).get_data(as_text=True)
    assert "办理中" in tracking and "围挡转角增设警示灯" in tracking
    suggestion = db.session.scalars(select(Suggestion)).one()
    assert suggestion.project == project and suggestion.email == "li@example.cn"
    assert "围挡转角增设警示灯" not in client.get("/suggestions").get_data(as_text=True)

    suggestions.adopt(db.session, staff, suggestion, "已要求施工单位加装警示灯。", utcnow())
    db.session.commit()
    tracking = client.get(link).get_data(as_text=True)
    assert "已采纳" in tracking and "已要求施工单位加装警示灯。" in tracking
    assert re.search(r'class="points">\s*5', tracking)
    public = client.get("/suggestions").get_data(as_text=True)
    assert "围挡转角增设警示灯" in public and "已要求施工单位加装警示灯。" in public
    assert "li@example.cn" not in public


def test_declined_and_new_suggestions_are_not_public(client, db, staff):
    declined, token = suggestions.send(db.session, "兑换公交卡", "积分兑换公交卡充值。", utcnow())
    suggestions.decline(db.session, staff, declined, "暂不支持兑换。", utcnow())
    suggestions.send(db.session, "增设座椅", "慢行道增设座椅。", utcnow(), phone="13800000000")
    db.session.commit()
    public = client.get("/suggestions").get_data(as_text=True)
    assert "兑换公交卡" not in public and "增设座椅" not in public and "暂无已采纳的建议" in public
    tracking = client.get(f"/suggestions/track/{token}").get_data(as_text=True)
    assert "未采纳" in tracking and "暂不支持兑换。" in tracking
    assert client.get("/suggestions/track/wrong").status_code == 404


def test_bad_input_gets_messages_keeps_the_text_and_saves_nothing(client, db):
    response = client.post(
        "/suggestions/new",
        data={
            "title": "",
            "body": "<script>alert(1)</script>好的建议",
            "email": "li@",
            "phone": "12",
            "project": "NO-SUCH",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请为您的建议填写标题。" in html
    assert "请填写纯文本，不要使用HTML标签" in html
    assert "请输入有效的电子邮件地址。" in html and "请输入有效的电话号码。" in html
    assert 'value="li@"' in html and "&lt;script&gt;alert(1)&lt;/script&gt;好的建议" in html
    assert "<script>alert(1)" not in html
    assert count(db) == 0


def test_a_signed_in_supervisor_earns_points_on_the_account(client, db, auth, staff):
    supervisor = auth.login(make_user(db.session, role="supervisor"))
    form = client.get("/suggestions/new").get_data(as_text=True)
    assert "您已登录，积分将计入您的账户。" in form
    client.post("/suggestions/new", data={"title": "增设座椅", "body": "慢行道每隔两百米设座椅。"})
    suggestion = db.session.scalars(select(Suggestion)).one()
    assert suggestion.user_id == supervisor.id
    suggestions.adopt(db.session, staff, suggestion, "采纳。", utcnow())
    db.session.commit()
    assert db.session.get(type(supervisor), supervisor.id).points == 5


def test_staff_sending_a_suggestion_are_not_credited(client, db, auth):
    auth.login(make_user(db.session, role="dispatcher"))
    client.post("/suggestions/new", data={"title": "标题四字", "body": "建议内容五个字。"})
    assert db.session.scalars(select(Suggestion)).one().user_id is None
