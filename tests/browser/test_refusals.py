"""A refused back-office form on a phone: what was typed stays, why it was refused is said
inside that form and is on screen, and the case page does not scroll sideways."""

import pytest
from sqlalchemy import select

from portal.models import Department, utcnow
from portal.services import workflow
from tests.browser.conftest import PHONE
from tests.browser.test_back_office import sign_in, staff
from tests.factories import make_case

pytestmark = pytest.mark.browser


def in_view(page, selector: str) -> bool:
    """Say whether the element is at least partly inside the phone's screen."""
    box = page.locator(selector).bounding_box()
    return (
        box is not None and box["y"] < PHONE["viewport"]["height"] and box["y"] + box["height"] > 0
    )


def test_a_refused_extension_keeps_the_reason_and_says_why_beside_it(
    live_server, page_factory, db, reference
):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    case, _ = make_case(db.session, category_code="0101")
    dispatcher, handler = staff(db, "dispatcher"), staff(db, "handler", road)
    workflow.accept(db.session, case, dispatcher, "normal", utcnow())
    workflow.route(db.session, case, dispatcher, road, utcnow())
    db.session.commit()

    page = page_factory(PHONE)
    sign_in(page, live_server, handler)
    page.goto(f"{live_server}/admin/cases/{case.number}")
    # The "after" photos' file input once widened the page past the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("#request_extension-body", "等待管材到货")
    page.fill("#extension-hours", "1000")
    page.get_by_role("button", name="申请延期").click()
    form = "form[action$='/request_extension']"
    page.wait_for_selector(f"{form} [role=alert]")
    assert "1 到 720" in page.locator(f"{form} [role=alert]").inner_text()
    assert in_view(page, f"{form} [role=alert]")  # not only at the top, screens away
    assert page.input_value("#request_extension-body") == "等待管材到货"
    assert page.input_value("#extension-hours") == "1000"
    page.fill("#extension-hours", "16")
    page.get_by_role("button", name="申请延期").click()
    page.wait_for_selector(".flash.success")
    db.session.refresh(case)
    assert case.extension_minutes == 16 * 60
    assert page.console_errors == []


def test_a_refused_redaction_keeps_the_text_and_the_reason(
    live_server, page_factory, db, reference
):
    case, _ = make_case(db.session, description="车一直停在盲道上。")
    dispatcher = staff(db, "dispatcher")

    page = page_factory(PHONE)
    sign_in(page, live_server, dispatcher)
    page.goto(f"{live_server}/admin/cases/{case.number}")
    page.fill("#redact-pieces", "不在原文里的字")
    page.fill("#redact-reason", "邻居的个人信息")
    page.get_by_role("button", name="隐去", exact=True).click()
    alert = "#moderation [role=alert]"
    page.wait_for_selector(alert)
    assert "与原文完全一致" in page.locator(alert).inner_text() and in_view(page, alert)
    assert page.input_value("#redact-pieces") == "不在原文里的字"
    assert page.input_value("#redact-reason") == "邻居的个人信息"
    page.fill("#redact-pieces", "盲道")
    page.get_by_role("button", name="隐去", exact=True).click()
    page.wait_for_selector(".flash.success")
    db.session.refresh(case)
    assert "盲道" not in case.description and case.moderated


def test_a_refused_report_puts_the_keyboard_on_the_list_of_what_to_correct(
    live_server, page_factory, db, reference
):
    page = page_factory(PHONE)
    page.goto(f"{live_server}/report/new")
    page.select_option("#category", "0101")
    page.fill("#description", "路面有个大坑")  # no position: refused
    page.focus("#description")
    for _ in range(20):  # on through the contact fields to the submit button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "submit":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "errors-summary"
    page.keyboard.press("Tab")  # the first link of the list, to the field to correct
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#lat"
    assert page.input_value("#description") == "路面有个大坑"
