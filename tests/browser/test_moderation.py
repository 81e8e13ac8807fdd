"""A dispatcher redacts a neighbour's phone number; the public page, Open311 and the CSV
show the note instead. The report form warns the resident while they type."""

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_back_office import sign_in, staff
from tests.factories import make_case

pytestmark = pytest.mark.browser
SECRET = "13800138000"


def test_a_redaction_is_seen_from_the_public_page_open311_and_the_csv(
    live_server, page_factory, db, reference
):
    case, _ = make_case(db.session, description=f"隔壁王某电话{SECRET}，车一直停在盲道上。")
    dispatcher = staff(db, "dispatcher")

    page = page_factory(DESKTOP)
    sign_in(page, live_server, dispatcher)
    page.goto(f"{live_server}/admin/cases/{case.number}")
    panel = page.locator("#moderation")
    assert SECRET in panel.locator(".suggested-pieces").inner_text()
    assert page.input_value("#redact-pieces") == SECRET  # prefilled from the suggestion
    page.fill("#redact-reason", "邻居的个人信息")
    page.get_by_role("button", name="隐去", exact=True).click()
    page.wait_for_selector(".flash.success")
    assert "文字已隐去" in panel.locator("table.moderations").inner_text()

    public = page_factory(PHONE)
    public.goto(f"{live_server}/cases/{case.number}")
    body = public.locator("main").inner_text()
    assert "部分内容已隐去" in body and SECRET not in public.content()
    assert public.console_errors == []

    public.goto(f"{live_server}/open311/v2/requests/{case.number}.json")
    served = public.locator("body").inner_text()
    assert "部分内容已隐去" in served and SECRET not in served

    csv = public.request.get(f"{live_server}/cases.csv")
    assert csv.status == 200
    text = csv.body().decode("utf-8")
    line = next(row for row in text.splitlines() if case.number in row)
    assert "部分内容已隐去" in line and SECRET not in text


def test_the_report_form_warns_while_the_resident_types(live_server, page_factory, reference):
    page = page_factory(PHONE)
    page.goto(f"{live_server}/report/new")
    hint = page.locator("#personal-data-hint")
    assert hint.is_hidden()
    page.fill("#description", "井盖松了，请联系隔壁 138 0013 8000")
    hint.wait_for(state="visible")
    page.fill("#description", "井盖松了，身份证 110105194912310021")  # a wrong check digit
    hint.wait_for(state="hidden")
    page.fill("#description", "井盖松了，身份证 11010519491231002X")
    hint.wait_for(state="visible")
    assert page.console_errors == []
