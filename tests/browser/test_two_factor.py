"""An administrator without a second factor is made to set one up, then signs in with it."""

import pyotp
import pytest

from portal.models import AccountTotp
from tests.browser.conftest import PHONE, main_menu
from tests.browser.test_back_office import PASSWORD, staff

pytestmark = pytest.mark.browser


def test_an_admin_enrolls_on_a_phone_and_signs_in_with_a_recovery_code(
    live_server, page_factory, db, reference
):
    admin = staff(db, "admin")
    db.session.delete(db.session.get(AccountTotp, admin.id))  # a new admin: not enrolled yet
    db.session.commit()

    page = page_factory(PHONE)
    page.goto(live_server + "/login?next=/admin/users")
    page.fill("#email", admin.email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server + "/account/two-factor")  # every page sends here first
    assert page.locator(".qr-code svg").is_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="开启两步验证").click()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="我已妥善保存，继续").click()
    page.wait_for_url(live_server + "/admin/")

    main_menu(page).get_by_role("button", name="退出").click()
    page.goto(live_server + "/login?next=/admin/users")
    page.fill("#email", admin.email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server + "/login/verify?next=/admin/users")
    page.fill("#code", codes[0])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server + "/admin/users")
    assert page.console_errors == []
