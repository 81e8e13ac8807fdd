"""A staff member who forgot the password sets a new one from the mailed link on a phone, signs
in with it, and signs out everywhere from the account page."""

import re

import pytest
from sqlalchemy import select

from portal.models import OutboxMessage
from portal.services import accounts
from tests.browser.conftest import PHONE
from tests.factories import make_user, totp_code

pytestmark = pytest.mark.browser
NEW = "a brand new long password"


def test_forgotten_password_then_sign_out_everywhere(live_server, page_factory, db, reference):
    user = make_user(db.session, "dispatcher", email="forgetful@example.cn")
    user.password_hash = accounts.hash_password("the old long password")
    db.session.commit()

    page = page_factory(PHONE)
    page.goto(live_server + "/login")
    page.get_by_role("link", name="忘记密码？").click()
    page.fill("#email", user.email)
    page.get_by_role("button", name="发送链接").click()
    assert page.get_by_role("heading", name="请查收邮件").is_visible()

    db.session.expire_all()
    body = db.session.scalar(select(OutboxMessage.body))
    link = re.search(r"https?://[^/\s]+(/password/set/\S+)", body).group(1)
    page.goto(live_server + link)
    page.fill("#new", NEW)
    page.fill("#confirm", NEW)
    page.get_by_role("button", name="设置密码").click()
    page.wait_for_url(live_server + "/login")

    page.fill("#email", user.email)
    page.fill("#password", NEW)
    page.get_by_role("button", name="登录").click()
    # A dispatcher signs in with two factors: the new password alone does not open the office.
    page.wait_for_url(live_server + "/login/verify")
    page.fill("#code", totp_code(db.session, user))
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server + "/admin/")
    page.goto(live_server + "/account")
    assert page.get_by_text(user.email).first.is_visible()
    page.get_by_role("button", name="在所有设备上退出").click()
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/admin/")
    assert "/login" in page.url
