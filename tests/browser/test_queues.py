"""A dispatcher and a handler work the whole loop from their first screen: the saved views,
a send back (退回), an extension (延期), a bulk action with a refusal, a stale action."""

import pytest
from sqlalchemy import select

from portal.models import Department, utcnow
from portal.services import workflow
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_back_office import sign_in, staff
from tests.factories import make_case, make_user

pytestmark = pytest.mark.browser


def spread(db, n):
    """Return n new road cases at least 100 m apart inside the demo district."""
    return [
        make_case(db.session, category_code="0101", position=(30.262 + i * 0.001, 120.14))[0]
        for i in range(n)
    ]


def test_dispatcher_reaches_to_dispatch_and_to_verify_and_a_handler_pushes_back(
    live_server, page_factory, db, reference
):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    misrouted, slow, done = spread(db, 3)
    someone = make_user(db.session, "dispatcher")
    now = utcnow()
    for case in (misrouted, slow, done):
        workflow.accept(db.session, case, someone, case.priority, now)
        workflow.route(db.session, case, someone, road, now)
    done_by = make_user(db.session, "handler", department=road)
    workflow.resolve(db.session, done, done_by, "已修复", [], None, now)
    db.session.commit()
    dispatcher, handler = staff(db, "dispatcher"), staff(db, "handler", road)

    phone = page_factory(PHONE)
    sign_in(phone, live_server, handler)
    views = phone.locator(".queue-views")
    assert "待办" in views.inner_text() and "工作小时" in phone.locator(".queue").inner_text()
    phone.get_by_role("link", name=misrouted.number).click()
    phone.fill("#send_back-body", "这是绿化带问题，不归道路养护所")
    phone.get_by_role("button", name="退回").click()
    phone.wait_for_selector(".flash.success")
    phone.goto(f"{live_server}/admin/cases/{slow.number}")
    phone.fill("#extension-hours", "14")
    phone.fill("#request_extension-body", "沥青材料下周才到货")
    phone.get_by_role("button", name="申请延期").click()
    phone.wait_for_selector(".flash.success")

    page = page_factory(DESKTOP)
    sign_in(page, live_server, dispatcher)
    first_screen = page.locator(".queue").inner_text()
    assert misrouted.number in first_screen and slow.number in first_screen
    assert done.number in first_screen
    page.locator(".queue-views a[data-view='to_dispatch']").click()
    assert "待派遣" in page.locator("h1").inner_text()
    assert misrouted.number in page.locator(".queue").inner_text()
    assert slow.number not in page.locator(".queue").inner_text()
    page.locator(".queue-views a[data-view='to_verify']").click()
    assert done.number in page.locator(".queue").inner_text()
    assert "1" in page.locator(".queue-views a[data-view='to_verify'] .count").inner_text()

    page.goto(f"{live_server}/admin/cases/{slow.number}")
    assert "申请延长14小时" in page.locator(".extension-pending").inner_text()
    page.get_by_role("button", name="批准延期", exact=True).click()
    page.wait_for_selector(".flash.success")
    assert "延期已批准" in page.locator(".timeline").inner_text()
    assert page.console_errors == [] and phone.console_errors == []


def test_a_bulk_action_refuses_a_stale_case_and_does_the_rest(
    live_server, page_factory, db, reference
):
    light = db.session.scalar(select(Department).where(Department.code == "LIGHT"))
    cases = spread(db, 3)
    cases[0].priority = "low"
    db.session.commit()
    admin = make_user(db.session, "admin", name="王管理")
    dispatcher = staff(db, "dispatcher")
    page = page_factory(DESKTOP)
    sign_in(page, live_server, dispatcher)
    for case in cases:
        page.get_by_role("checkbox", name=case.number).check()
    # Meanwhile an admin routes the first case elsewhere.
    workflow.route(db.session, cases[1], admin, light, utcnow())
    db.session.commit()
    page.select_option("#action", "route")
    assert page.input_value("#priority") == "" and page.input_value("#department") == ""
    page.get_by_role("button", name="执行").click()
    result = page.locator(".bulk-result")
    refused = result.locator(f"tr[data-number='{cases[1].number}']").inner_text()
    assert "王管理" in refused and "被拒绝" in refused
    for case in (cases[0], cases[2]):
        assert "完成" in result.locator(f"tr[data-number='{case.number}']").inner_text()
    for case in cases:
        db.session.refresh(case)
    assert [c.department.code for c in cases] == ["ROAD", "LIGHT", "ROAD"]
    assert cases[0].priority == "low"  # untouched
    assert page.console_errors == []


def test_a_stale_reply_keeps_the_text_typed(live_server, page_factory, db, reference):
    (case,) = spread(db, 1)
    other = make_user(db.session, "dispatcher", name="李调度")
    dispatcher = staff(db, "dispatcher")
    page = page_factory(PHONE)
    sign_in(page, live_server, dispatcher)
    page.goto(f"{live_server}/admin/cases/{case.number}")
    page.fill("#reply-body", "已收到，明天上午派人查看。")
    workflow.accept(db.session, case, other, "urgent", utcnow())
    db.session.commit()
    page.get_by_role("button", name="公开答复").click()
    page.wait_for_selector(".stale-changes")
    assert "李调度" in page.locator(".stale-changes").inner_text()
    assert page.input_value("#reply-body") == "已收到，明天上午派人查看。"
    page.get_by_role("button", name="公开答复").click()
    page.wait_for_selector(".flash.success")
    assert "已收到，明天上午派人查看。" in page.locator(".timeline").inner_text()
    assert page.console_errors == []
