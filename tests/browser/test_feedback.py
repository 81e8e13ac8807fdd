"""At 已处置, a resident on a phone says "not fixed" with a reason, in Chinese."""

import pytest
from playwright.sync_api import expect

from portal.models import utcnow
from tests.browser.conftest import PHONE
from tests.factories import make_case

pytestmark = pytest.mark.browser


def test_not_fixed_at_resolved_on_a_phone(live_server, page_factory, db, reference):
    case, token = make_case(db.session)
    case.state, case.resolved_at = "resolved", utcnow()
    db.session.commit()
    page = page_factory(PHONE)
    page.goto(f"{live_server}/track/{token}")
    expect(page.get_by_role("heading", name="问题解决了吗？")).to_be_visible()
    send_back = page.get_by_role("button", name="没有修好，退回返工")
    # Without a reason the page says what is missing and nothing changes.
    send_back.click()
    expect(page.locator(".field-error").first).to_be_visible()
    db.session.refresh(case)
    assert case.state == "resolved"
    page.get_by_label("还有什么问题没有解决？").fill("井盖还是松的，晚上踩上去会翻")
    page.get_by_role("button", name="没有修好，退回返工").click()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.get_by_text("井盖还是松的，晚上踩上去会翻").first).to_be_visible()
    db.session.refresh(case)
    assert case.state in ("accepted", "dispatched") and case.cycle == 2
    # The page no longer offers the choice, and nothing spills out of a phone's width.
    expect(page.get_by_role("heading", name="问题解决了吗？")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.console_errors == []
