"""Sessions end for good: a cookie copied before sign-out, a password change, disabling, a new
role, "sign out everywhere" or a password reset opens nothing any more, from anywhere."""

from __future__ import annotations

import re

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, OutboxMessage, User
from portal.services import accounts
from tests.factories import make_case, make_user, totp_code

PASSWORD = "correct horse battery"
PHONE = "13912345678"


def csrf_token(client, path: str) -> str:
    """Return the CSRF token of the first form of a page, as a browser would post it."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    """Sign in through the form, with its CSRF token, and the code when the account has one."""
    token = csrf_token(client, "/login")
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    if answer.status_code == 303 and "/login/verify" in answer.headers["Location"]:
        user = db.session.scalar(select(User).where(User.email == email))
        answer = post_form(client, "/login/verify", code=totp_code(db.session, user))
    return answer


def post_form(client, page: str, action: str | None = None, **data):
    """Post a page's form with its CSRF token."""
    return client.post(action or page, data={**data, "csrf_token": csrf_token(client, page)})


@pytest.fixture
def victim(db, reference):
    user = make_user(db.session, "dispatcher", email="victim@example.cn", locale="en")
    user.password_hash = accounts.hash_password(PASSWORD)
    db.session.commit()
    return user


@pytest.fixture
def case(db, reference):
    made, _token = make_case(db.session, name="王先生", phone=PHONE)
    return made


@pytest.fixture
def browser(client, victim):
    """The victim's browser, signed in through the sign-in form."""
    assert sign_in(client, victim.email).status_code == 303
    return client


def thief(app, browser):
    """Return another browser, elsewhere, holding a copy of the victim's session cookie."""
    other = app.test_client()
    other.environ_base.update(REMOTE_ADDR="203.0.113.66", HTTP_USER_AGENT="curl/8.0")
    other.set_cookie("session", browser.get_cookie("session").value)
    return other


def assert_open(client, case) -> None:
    assert client.get("/admin/").status_code == 200
    page = client.get(f"/admin/cases/{case.number}")
    assert page.status_code == 200 and PHONE in page.get_data(as_text=True)


def assert_closed(client, case) -> None:
    for path in ("/admin/", f"/admin/cases/{case.number}"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
        assert PHONE not in response.get_data(as_text=True)


def sign_out(app, browser, victim, db):
    post_form(browser, "/account", "/logout")


def change_password(app, browser, victim, db):
    response = post_form(
        browser,
        "/account/password",
        old=PASSWORD,
        new="a new long password",
        confirm="a new long password",
    )
    assert response.status_code == 303
    # The browser that changed it stays signed in, with the new version.
    assert browser.get("/admin/").status_code == 200


def sign_out_everywhere(app, browser, victim, db):
    assert post_form(browser, "/account", "/account/sign-out-everywhere").status_code == 303
    assert browser.get("/admin/").status_code == 302  # this browser too


def disable(app, browser, victim, db):
    admin_browser = app.test_client()
    admin = make_user(db.session, "admin")
    admin.password_hash = accounts.hash_password(PASSWORD)
    db.session.commit()
    sign_in(admin_browser, admin.email)
    response = post_form(admin_browser, "/admin/users", f"/admin/users/{victim.id}/toggle")
    assert response.status_code == 303
    db.session.refresh(victim)
    assert not victim.active
    response = post_form(admin_browser, "/admin/users", f"/admin/users/{victim.id}/toggle")
    db.session.refresh(victim)
    assert victim.active  # enabled again: the old session still must not come back


def change_role(app, browser, victim, db):
    # Even a promotion ends the sessions: the old cookie stood for the old role.
    result = app.test_cli_runner().invoke(args=["user", "role", victim.email, "admin"])
    assert result.exit_code == 0, result.output
    db.session.refresh(victim)
    assert victim.role == "admin"


def reset_password(app, browser, victim, db):
    stranger = app.test_client()
    post_form(stranger, "/password/forgot", email=victim.email)
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == victim.email))
    link = re.search(r"http://127\.0\.0\.1:5000(/password/set/\S+)", mail.body).group(1)
    response = post_form(
        stranger, link, new="a reset long password", confirm="a reset long password"
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    "end",
    [sign_out, change_password, sign_out_everywhere, disable, change_role, reset_password],
)
def test_a_copied_session_cookie_dies_with_the_session(app, db, browser, victim, case, end):
    stolen = thief(app, browser)
    assert_open(stolen, case)  # the copy works while the session lives
    end(app, browser, victim, db)
    assert_closed(stolen, case)


def test_a_remember_me_cookie_dies_too(app, client, db, victim, case):
    """The portal sets no remember-me cookie, but one made the way Flask-Login makes it would
    carry the session version too, and stop working with it."""
    with app.test_request_context():
        remembered = encode_cookie(victim.get_id())
    browser = app.test_client()
    browser.set_cookie("remember_token", remembered)
    assert_open(browser, case)
    accounts.end_sessions(victim)
    db.session.commit()
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remembered)
    assert_closed(fresh, case)


def test_a_cookie_from_before_session_versions_is_refused(app, client, db, victim, case):
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = str(victim.id)  # what the portal stored before
    assert_closed(browser, case)


def test_the_account_page_shows_the_account_and_its_actions(client, db, browser, victim):
    page = browser.get("/account").get_data(as_text=True)
    assert victim.email in page and "/account/password" in page
    assert 'action="/account/sign-out-everywhere"' in page and 'name="csrf_token"' in page
    # Without the CSRF token the button does nothing.
    assert browser.post("/account/sign-out-everywhere").status_code == 400
    assert browser.get("/admin/").status_code == 200
    post_form(browser, "/account", "/account/sign-out-everywhere")
    assert db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == (
        "account.sign_out_everywhere"
    )
