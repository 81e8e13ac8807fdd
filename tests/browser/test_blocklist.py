"""An admin blocks a whole network on a phone, with the keyboard: refused, then confirmed."""

import pytest
from sqlalchemy import select

from portal.models import BlockedSender
from tests.browser.conftest import PHONE
from tests.browser.test_back_office import sign_in, staff

pytestmark = pytest.mark.browser


def test_an_admin_confirms_a_wide_network_on_a_phone(
    live_server, page_factory, db, reference, tmp_path
):
    page = page_factory(PHONE)
    sign_in(page, live_server, staff(db, "admin"))
    page.goto(live_server + "/admin/blocklist")
    page.select_option("#kind", "ip")
    page.fill("#value", "0.0.0.0/0")
    page.fill("#reason", "境外刷单")
    page.get_by_role("button", name="屏蔽").click()
    assert "这个网段宽于 /16" in page.locator(".field-error").inner_text()
    assert page.input_value("#value") == "0.0.0.0/0" and page.input_value("#reason") == "境外刷单"
    page.screenshot(path=str(tmp_path / "refused-phone.png"), full_page=True)
    page.focus("#confirm_wide")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type("整个网段持续提交广告")
    page.get_by_role("button", name="屏蔽").click()
    page.wait_for_selector(".flash.success")
    row = page.locator("tr", has_text="0.0.0.0/0")
    assert row.is_visible() and row.locator("td").nth(5).inner_text() == "0"
    assert db.session.scalar(select(BlockedSender.value)) == "0.0.0.0/0"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    assert page.console_errors == []
    # The list stands apart from the form's button, and the last row's button from the footer.
    gap = page.evaluate(
        "document.querySelector('form + .data-table').getBoundingClientRect().top"
        " - document.querySelector('form.narrow-form button[type=submit]')"
        ".getBoundingClientRect().bottom"
    )
    assert gap >= 16
    below = page.evaluate(
        "document.querySelector('.site-footer').getBoundingClientRect().top"
        " - document.querySelector('main .data-table').getBoundingClientRect().bottom"
    )
    assert below >= 16
