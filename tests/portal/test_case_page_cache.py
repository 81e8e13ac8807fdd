"""Public case pages kept rendered: every change shows at once, each visitor keeps their own."""

import gzip
import re
from datetime import timedelta

import brotli
import pytest
from flask import request, request_started
from sqlalchemy import create_engine

from portal.models import CaseEvent, utcnow
from portal.public import page_cache
from portal.services import workflow
from tests.factories import make_case, make_user

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "PAGE_CACHE_MB": 1}


def kept_pages(app) -> int:
    return len(app.extensions[page_cache.EXTENSION]._pages)


def test_a_page_is_kept_and_a_staff_reply_shows_at_once(app, client, db, reference):
    case, _ = make_case(db.session)
    assert "已安排人员现场查看" not in client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert kept_pages(app) == 1
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, "normal", utcnow())
    workflow.reply(db.session, case, dispatcher, "已安排人员现场查看", utcnow())
    db.session.commit()
    page = app.test_client().get(f"/cases/{case.number}").get_data(as_text=True)
    assert "已安排人员现场查看" in page and "已立案" in page


def test_an_event_added_without_touching_the_case_shows_at_once(client, db, reference):
    case, _ = make_case(db.session)
    client.get(f"/cases/{case.number}")
    db.session.add(CaseEvent(case_id=case.id, kind="public_reply", body="施工队已出发"))
    db.session.commit()
    assert "施工队已出发" in client.get(f"/cases/{case.number}").get_data(as_text=True)


def test_me_too_counts_at_once_and_each_visitor_posts_with_their_own_token(
    app, client, db, reference
):
    case, _ = make_case(db.session)
    other = app.test_client()
    first = client.get(f"/cases/{case.number}").get_data(as_text=True)
    second = other.get(f"/cases/{case.number}").get_data(as_text=True)
    assert page_cache.PLACEHOLDER not in first + second
    assert TOKEN.search(first).group(1) != TOKEN.search(second).group(1)
    assert "0 人表示" in second  # nobody said "me too" yet
    answer = other.post(
        f"/cases/{case.number}/follow",
        data={"csrf_token": TOKEN.search(second).group(1), "email": "wang@example.cn"},
    )
    assert answer.status_code == 303
    followed = other.get(answer.headers["Location"]).get_data(as_text=True)
    assert "谢谢！您已关注此案件。" in followed and "您已关注此案件。" in followed
    assert "1 人表示" in client.get(f"/cases/{case.number}").get_data(as_text=True)
    # Another visitor's token from the kept page is refused: tokens are not shared.
    stolen = app.test_client().post(
        f"/cases/{case.number}/follow",
        data={"csrf_token": TOKEN.search(first).group(1), "email": "li@example.cn"},
    )
    assert stolen.status_code == 400


def test_a_closed_case_page_sets_no_cookie(client, db, reference):
    case, _ = make_case(db.session)
    case.state, case.closed_at = "closed", utcnow()
    db.session.commit()
    for _ in range(2):
        answer = client.get(f"/cases/{case.number}")
        assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
        assert "csrf" not in answer.get_data(as_text=True)


def test_hiding_a_kept_case_takes_it_off_at_once(client, db, reference):
    case, _ = make_case(db.session)
    assert client.get(f"/cases/{case.number}").status_code == 200
    case.hidden = True
    db.session.commit()
    assert client.get(f"/cases/{case.number}").status_code == 404


def test_staff_and_each_language_get_their_own_page(app, client, db, login_as, reference):
    case, _ = make_case(db.session)
    visitor = app.test_client()
    assert "市政" in visitor.get(f"/cases/{case.number}").get_data(as_text=True)
    english = visitor.get(f"/cases/{case.number}", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    login_as("dispatcher")
    staff = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "/admin/" in staff and "/logout" in staff
    public = visitor.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "/admin/" not in public and "/logout" not in public


def test_a_kept_page_ends_when_a_deadline_passes(app, db, reference):
    now = utcnow()
    with app.test_request_context():
        soon, later = now + timedelta(minutes=5), now + timedelta(days=2)
        ends = page_cache.expiry([later, None, soon, now - timedelta(hours=1)], now)
        assert ends == pytest.approx(soon.timestamp(), abs=1)
        longest = app.config["PAGE_CACHE_SECONDS"]
        assert page_cache.expiry([later], now) == pytest.approx(now.timestamp() + longest, abs=5)


def test_without_the_cache_the_page_is_rendered_each_time(app, client, db, reference):
    app.extensions[page_cache.EXTENSION] = None
    case, _ = make_case(db.session)
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert case.number in page and TOKEN.search(page) and page_cache.PLACEHOLDER not in page


@pytest.fixture
def dispatched(app, client):
    """Record the paths Flask dispatched (those the layer before it did not answer); each
    test client serves its requests in their own app context."""
    paths = []

    def record(sender, **extra):
        paths.append(request.path)

    request_started.connect(record, app)
    yield paths
    request_started.disconnect(record, app)


def closed_case(db):
    case, _ = make_case(db.session)
    case.state, case.closed_at = "closed", utcnow()
    db.session.commit()
    return case


def test_a_visitor_without_a_session_gets_a_kept_page_before_flask(app, db, reference, dispatched):
    case = closed_case(db)
    path = f"/cases/{case.number}"
    rendered = app.test_client().get(path)
    kept = app.test_client().get(path)
    assert dispatched == [path]  # the second was answered before Flask
    assert kept.status_code == 200 and kept.data == rendered.data
    assert kept.mimetype == "text/html" and kept.headers["Content-Length"] == str(len(kept.data))
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"):
        assert kept.headers[name] == rendered.headers[name]
    assert kept.headers["Referrer-Policy"] == rendered.headers["Referrer-Policy"]
    assert "Set-Cookie" not in kept.headers and "Strict-Transport-Security" not in kept.headers
    secure = app.test_client().get(path, base_url="https://portal.example.cn")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert dispatched == [path]


def test_kept_pages_before_flask_follow_the_case_and_the_language(app, db, reference, dispatched):
    case = closed_case(db)
    path = f"/cases/{case.number}"
    english = {"Accept-Language": "en-GB,en;q=0.9"}
    for headers in ({}, english):
        app.test_client().get(path, headers=headers)
    assert '<html lang="en">' in app.test_client().get(path, headers=english).get_data(True)
    assert '<html lang="zh-Hans-CN">' in app.test_client().get(path).get_data(True)
    assert dispatched == [path, path]
    db.session.add(CaseEvent(case_id=case.id, kind="public_reply", body="复查合格"))
    db.session.commit()
    assert "复查合格" in app.test_client().get(path).get_data(True)  # rendered anew
    case.hidden = True
    db.session.commit()
    assert app.test_client().get(path).status_code == 404
    assert dispatched == [path, path, path, path]


def test_flask_answers_a_session_a_query_or_a_head(
    app, client, db, login_as, reference, dispatched
):
    case = closed_case(db)
    path = f"/cases/{case.number}"
    app.test_client().get(path)
    app.test_client().get(f"{path}?lang=en")
    app.test_client().head(path)
    assert len(dispatched) == 3
    login_as("dispatcher")
    dispatched.clear()
    assert "/logout" in client.get(path).get_data(True)
    assert dispatched == [path]


def test_a_new_visitor_gets_a_kept_form_with_a_session_and_a_token_of_their_own(
    app, db, reference, dispatched
):
    case, _ = make_case(db.session)
    path = f"/cases/{case.number}"
    first = app.test_client().get(path)
    visitor = app.test_client()
    kept = visitor.get(path)
    assert dispatched == [path]  # the second visitor's page came from memory
    assert kept.status_code == 200 and kept.mimetype == "text/html"
    assert kept.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    assert kept.headers["X-Content-Type-Options"] == "nosniff"
    cookie = kept.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    token = TOKEN.search(kept.get_data(True)).group(1)
    assert token != TOKEN.search(first.get_data(True)).group(1)
    answer = visitor.post(f"{path}/follow", data={"csrf_token": token, "email": "a@example.cn"})
    assert answer.status_code == 303
    assert "1 人表示" in app.test_client().get(path).get_data(True)


def test_a_database_error_before_flask_leaves_the_request_to_flask(
    app, db, reference, dispatched, monkeypatch
):
    case = closed_case(db)
    path = f"/cases/{case.number}"
    app.test_client().get(path)
    layer = app.extensions[page_cache.LAYER]
    assert app.wsgi_app.application is layer  # right behind the static files
    monkeypatch.setattr(layer, "engine", create_engine("sqlite:////nonexistent/folder/x.db"))
    assert app.test_client().get(path).status_code == 200
    assert dispatched == [path, path]


def test_a_kept_page_before_flask_is_compressed_as_the_browser_accepts(
    app, db, reference, dispatched
):
    case = closed_case(db)
    path = f"/cases/{case.number}"
    rendered = app.test_client().get(path)
    for accepted, expected in (("gzip, deflate, br", "br"), ("gzip", "gzip")):
        kept = app.test_client().get(path, headers={"Accept-Encoding": accepted})
        assert kept.headers["Content-Encoding"] == expected
        assert kept.headers["Content-Length"] == str(len(kept.data)) and len(kept.data) > 0
        body = brotli.decompress(kept.data) if expected == "br" else gzip.decompress(kept.data)
        assert body == rendered.data
        assert kept.headers["Vary"] == "Accept-Language, Cookie, Accept-Encoding"
    plain = app.test_client().get(path, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and plain.data == rendered.data
    assert dispatched == [path]  # every later answer came from the layer before Flask
    # Rendered by Flask (a query string), the page is compressed all the same.
    fresh = app.test_client().get(f"{path}?x=1", headers={"Accept-Encoding": "br"})
    assert fresh.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in fresh.headers["Vary"] and "Accept-Language" in fresh.headers["Vary"]
