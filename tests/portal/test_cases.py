"""Public case pages, the list, private tracking, rating and reopening."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import utcnow
from portal.services.photos import PhotoStore
from tests.factories import make_case


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def test_case_page_shows_what_the_public_may_see(app, client, db, reference):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    case, _ = make_case(
        db.session,
        store,
        photos=1,
        name="李女士",
        phone="13912345678",
        email="li@example.cn",
        address="小河路88号",
    )
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert case.number in page and "小河路88号" in page and "待受理" in page
    assert case.category.name_zh in page
    assert f"/photos/{case.photos[0].sha256}.thumb.jpg" in page
    assert "李女士" not in page and "13912345678" not in page and "li@example.cn" not in page
    assert "响应" in page  # the respond deadline is shown


def test_hidden_and_unknown_cases_are_not_found(client, db, reference):
    case, token = make_case(db.session)
    case.hidden = True
    db.session.commit()
    assert client.get(f"/cases/{case.number}").status_code == 404
    assert client.get("/cases/2026-999999").status_code == 404
    assert client.get(f"/track/{token}").status_code == 200
    assert client.get("/track/not-a-token").status_code == 404


def test_internal_notes_stay_off_the_public_timeline(client, db, reference):
    from portal.models import CaseEvent

    case, _ = make_case(db.session)
    db.session.add(
        CaseEvent(case=case, kind="internal_note", public=False, body="内部备注：联系施工方")
    )
    db.session.add(CaseEvent(case=case, kind="public_reply", body="已安排人员现场查看"))
    db.session.commit()
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "已安排人员现场查看" in page and "内部备注" not in page


def test_resident_rates_and_reopens_with_the_private_link(client, db, reference):
    case, token = make_case(db.session)
    case.state, case.closed_at = "closed", utcnow() - timedelta(days=1)
    db.session.commit()
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert "满意" in page and f"/track/{token}/rate" in page
    bad = client.post(f"/track/{token}/rate", data={"rating": "wonderful"})
    assert bad.status_code == 422
    response = client.post(
        f"/track/{token}/rate", data={"rating": "dissatisfied", "comment": "坑还在"}
    )
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.rating == "dissatisfied" and case.state in ("accepted", "dispatched")
    assert case.reopen_count == 1
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert "返工" in page or "重新" in page


def test_reopen_needs_a_reason(client, db, reference):
    case, token = make_case(db.session)
    case.state, case.closed_at = "closed", utcnow()
    db.session.commit()
    assert client.post(f"/track/{token}/reopen", data={"reason": ""}).status_code == 422
    assert client.post(f"/track/{token}/reopen", data={"reason": "路灯还是不亮"}).status_code == 303
    db.session.refresh(case)
    assert case.state != "closed"


def test_case_list_filters_and_pages(client, db, reference):
    first, _ = make_case(db.session, description="桥梁栏杆松动需要加固")
    for _ in range(21):
        make_case(db.session, position=(30.2745, 120.1555))
    page = client.get("/cases").get_data(as_text=True)
    assert "22" in page and 'rel="next"' in page
    found = client.get("/cases?q=栏杆").get_data(as_text=True)
    assert first.number in found
    assert "1 " in found
    by_state = client.get("/cases?state=closed").get_data(as_text=True)
    assert first.number not in by_state
    odd = client.get("/cases?state=<script>&since=notadate&page=999&zone=x")
    assert odd.status_code == 200
    assert "<script>" not in odd.get_data(as_text=True)


def test_home_shows_latest_cases_and_the_map(client, db, reference):
    case, _ = make_case(db.session)
    page = client.get("/").get_data(as_text=True)
    assert case.number in page and 'id="case-map"' in page


def test_a_rejected_case_shows_no_running_resolve_clock(client, db, reference):
    case, _ = make_case(db.session)
    case.state, case.responded_at = "rejected", utcnow()
    case.resolve_due_at = utcnow() - timedelta(days=1)
    db.session.commit()
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "已超期" not in page and "处置：" not in page
    assert "响应：" in page and "按时" in page


def test_resident_answers_the_offices_question(client, db, reference):
    from portal.services import workflow
    from tests.factories import make_user

    case, token = make_case(db.session)
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, "normal", utcnow())
    workflow.ask_info(db.session, case, dispatcher, "请问具体是哪个门牌号？", utcnow())
    db.session.commit()
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert "请问具体是哪个门牌号？" in page
    assert client.post(f"/track/{token}/info", data={"body": ""}).status_code == 422
    assert client.post(f"/track/{token}/info", data={"body": "湖墅南路128号"}).status_code == 303
    db.session.refresh(case)
    assert case.paused_at is None and case.events[-1].body == "湖墅南路128号"
    again = client.post(f"/track/{token}/info", data={"body": "补充：靠近公交站"})
    db.session.refresh(case)
    assert case.events[-1].body == "湖墅南路128号"  # nothing is paused any more
    assert again.status_code == 409 and "补充：靠近公交站" in again.get_data(as_text=True)


def test_case_list_search_answers_every_query(client, db, reference):
    lamp, _ = make_case(db.session, description="编号K12+300的路灯不亮")
    assert lamp.number in client.get("/cases?q=K12%2B300").get_data(as_text=True)
    for q in ("灯", "的", "!" * 100, "。" * 100, '"', "*", " OR ", '"路灯" NEAR *'):
        answer = client.get("/cases", query_string={"q": q})
        assert answer.status_code == 200
        if q.strip() in ("灯", "的", "!" * 100, "。" * 100, '"', "*", "OR"[:1]):
            assert "两个相连" in answer.get_data(as_text=True)
        assert lamp.number not in answer.get_data(as_text=True)


def test_a_search_for_a_category_name_points_to_its_filter(client, db, reference):
    from portal.models import Category

    cover = db.session.scalar(select(Category).where(Category.name_zh == "井盖缺失"))
    page = client.get("/cases", query_string={"q": "井盖"}).get_data(as_text=True)
    hint = re.search(r'<p class="hint">与搜索词相符的问题类别：(.*?)</p>', page, re.S)
    assert hint and f'href="/cases?category={cover.code}">井盖缺失</a>' in hint[1]
    assert hint[1].count("<a ") <= 5
    assert "与搜索词相符的问题类别" not in client.get("/cases?q=湖墅南路").get_data(as_text=True)
    # The search box stays outside the folded filters; each form carries the other's values.
    page = client.get("/cases?q=井盖&state=closed").get_data(as_text=True)
    search = re.search(r'<form[^>]*class="search-bar".*?</form>', page, re.S)[0]
    assert 'id="q"' in search and 'name="state" value="closed"' in search
    filters = re.search(r'<form[^>]*class="filters".*?</form>', page, re.S)[0]
    assert 'name="q" value="井盖"' in filters and 'id="q"' not in filters


def test_the_reporter_gets_updates_on_the_private_page_but_no_me_too(client, db, reference):
    case, token = make_case(db.session)
    assert case.reporter_email == "" and case.followers_count == 0
    page = client.get(f"/track/{token}").get_data(as_text=True)
    # No "me too" on one's own report; the e-mail updates are offered instead.
    assert ">我也遇到</button>" not in page and f"/cases/{case.number}/follow" not in page
    assert f"/track/{token}/updates" in page
    bad = client.post(f"/track/{token}/updates", data={"email": "not an address"})
    assert bad.status_code == 422 and "not an address" in bad.get_data(as_text=True)
    done = client.post(f"/track/{token}/updates", data={"email": "Li@Example.cn"})
    assert done.status_code == 303
    db.session.refresh(case)
    assert case.reporter_email == "li@example.cn" and case.followers_count == 0
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert "案件进展将发送到您报告时留下的邮箱" in page
    assert client.post(f"/track/{token}/updates", data={"email": "x@example.cn"}).status_code == 409
    # The reporter's browser, posting "me too" by the public page's form, is refused too.
    with client.session_transaction() as session:
        session["tracking"] = [[case.number, token]]
    client.post(f"/cases/{case.number}/follow", data={"email": ""})
    db.session.refresh(case)
    assert case.followers_count == 0
