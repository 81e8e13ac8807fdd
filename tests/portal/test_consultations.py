"""Consultations on the public site: reading, commenting, the private link, closed ones."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.models import ConsultationComment, utcnow
from portal.services import consultations
from tests.factories import make_consultation, make_user


@pytest.fixture
def staff(db):
    return make_user(db.session, role="dispatcher")


@pytest.fixture
def consultation(db, staff):
    return make_consultation(db.session, staff, opened=utcnow() - timedelta(days=1))


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def comment_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(ConsultationComment))


def test_a_resident_comments_and_follows_it_with_the_private_link(client, db, consultation):
    page = f"/consultations/{consultation.id}"
    form = {
        "csrf_token": csrf(client, page),
        "body": "施工期间请保留公交站台，附近老人多。",
        "display_name": "陈阿姨",
        "email": "chen@example.cn",
        "phone": "13800000000",
    }
    response = client.post(f"{page}/comments", data=form)
    assert response.status_code == 303
    sent = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "您的意见已收到" in sent
    site = re.escape(client.application.config["PUBLIC_URL"])  # links name the site
    link = re.search(f'value="({site}/consultations/comment/[^"]+)"', sent).group(1)
    status = client.get(link).get_data(as_text=True)
    assert "待审核" in status and "施工期间请保留公交站台" in status
    comment = db.session.scalars(select(ConsultationComment)).one()
    assert (comment.email, comment.phone, comment.locale) == (
        "chen@example.cn",
        "13800000000",
        "zh_Hans_CN",
    )
    # Not shown before moderation.
    assert "施工期间请保留公交站台" not in client.get(page).get_data(as_text=True)


def test_only_approved_comments_show_and_contacts_never(client, db, staff, consultation):
    now = utcnow()
    said = {}
    for text in ("同意尽快开工。", "希望晚上不要施工。", "这是一条广告。"):
        said[text], _ = consultations.add_comment(
            db.session, consultation, text, now, "王先生", "wang@example.cn", "13911112222"
        )
    consultations.approve(db.session, staff, said["同意尽快开工。"], now)
    consultations.decline(db.session, staff, said["这是一条广告。"], "与主题无关。", now)
    db.session.commit()
    page = client.get(f"/consultations/{consultation.id}").get_data(as_text=True)
    assert "同意尽快开工。" in page and "王先生" in page
    assert "希望晚上不要施工。" not in page and "这是一条广告。" not in page
    assert "wang@example.cn" not in page and "13911112222" not in page
    assert "意见（1 条）" in page
    listing = client.get("/consultations").get_data(as_text=True)
    assert consultation.title in listing and "wang@example.cn" not in listing


def test_the_declined_commenter_reads_the_reason(client, db, staff, consultation):
    comment, token = consultations.add_comment(db.session, consultation, "广告内容。", utcnow())
    consultations.decline(db.session, staff, comment, "含有广告，不予公开。", utcnow())
    db.session.commit()
    page = client.get(f"/consultations/comment/{token}").get_data(as_text=True)
    assert "未公开" in page and "含有广告，不予公开。" in page
    assert client.get("/consultations/comment/not-a-token").status_code == 404


def test_script_in_a_comment_is_shown_as_text(client, db, staff, consultation):
    comment, token = consultations.add_comment(
        db.session,
        consultation,
        "<script>alert('x')</script> 支持",
        utcnow(),
        "<script>名</script>",
    )
    consultations.approve(db.session, staff, comment, utcnow())
    db.session.commit()
    for path in (f"/consultations/{consultation.id}", f"/consultations/comment/{token}"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<script>名" not in page
        assert "&lt;script&gt;alert(" in page


def test_bad_input_gets_messages_keeps_the_text_and_saves_nothing(client, db, consultation):
    page = f"/consultations/{consultation.id}"
    response = client.post(
        f"{page}/comments",
        data={
            "csrf_token": csrf(client, page),
            "body": "<b>好</b>",
            "email": "not-an-email",
            "phone": "abc",
            "display_name": "张三",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请填写纯文本，不要使用HTML标签" in html
    assert "请输入有效的电子邮件地址。" in html and "请输入有效的电话号码。" in html
    assert 'value="张三"' in html and 'value="not-an-email"' in html
    assert comment_count(db) == 0
    empty = client.post(f"{page}/comments", data={"csrf_token": csrf(client, page), "body": ""})
    assert empty.status_code == 422 and "请填写您的意见。" in empty.get_data(as_text=True)
    assert comment_count(db) == 0


def test_a_comment_without_the_csrf_token_is_refused(client, db, consultation):
    response = client.post(f"/consultations/{consultation.id}/comments", data={"body": "同意。"})
    assert response.status_code == 400
    assert comment_count(db) == 0


def test_a_closed_consultation_refuses_comments_clearly(client, db, staff):
    closed = make_consultation(db.session, staff, opened=utcnow() - timedelta(days=30), days=10)
    page = f"/consultations/{closed.id}"
    html = client.get(page).get_data(as_text=True)
    assert "本次征求意见已截止" in html and 'name="body"' not in html
    token = csrf(client, "/suggestions/new")  # any page carries the session's token
    response = client.post(f"{page}/comments", data={"csrf_token": token, "body": "晚到的意见。"})
    assert response.status_code == 409 and "本次征求意见已截止" in response.get_data(as_text=True)
    assert comment_count(db) == 0


def test_the_list_shows_open_ones_first_and_the_response_of_closed_ones(client, db, staff):
    closed = make_consultation(db.session, staff, opened=utcnow() - timedelta(days=30), days=10)
    consultations.respond(db.session, staff, closed, "采纳增设信号灯的意见。", utcnow())
    open_ = make_consultation(db.session, staff, opened=utcnow() - timedelta(hours=1))
    open_.title = "正在征集的意见"
    upcoming = make_consultation(db.session, staff, opened=utcnow() + timedelta(days=2))
    upcoming.title = "下个月才开始"
    db.session.commit()
    html = client.get("/consultations").get_data(as_text=True)
    assert html.index("正在征集的意见") < html.index("采纳增设信号灯的意见。")
    assert "下个月才开始" not in html
    assert client.get(f"/consultations/{upcoming.id}").status_code == 404
    assert "采纳增设信号灯的意见。" in client.get(f"/consultations/{closed.id}").get_data(
        as_text=True
    )


def test_the_pages_speak_english(client, consultation):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = client.get(f"/consultations/{consultation.id}").get_data(as_text=True)
    assert "Send my comment" in html and "What the office asks" in html


def test_the_project_page_links_to_its_consultations(client, db, staff, consultation):
    other = make_consultation(db.session, staff, opened=utcnow() - timedelta(days=1))
    page = client.get(f"/projects/{consultation.project.code}").get_data(as_text=True)
    assert f'href="/consultations/{consultation.id}"' in page
    assert f'href="/consultations/{other.id}"' not in page  # another project's
