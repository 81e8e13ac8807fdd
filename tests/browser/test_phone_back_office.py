"""The back office on a phone: the links and saved views are one row each, the queue's
filters fold behind a button, so the first case is on the first screen."""

import pytest

from tests.browser.conftest import PHONE
from tests.browser.test_back_office import sign_in, staff
from tests.factories import make_case

pytestmark = pytest.mark.browser


def test_the_first_case_is_on_a_phones_first_screen(live_server, page_factory, db, reference):
    case, _ = make_case(db.session)
    page = page_factory(PHONE)
    sign_in(page, live_server, staff(db, "dispatcher"))
    for row in (".admin-nav", ".queue-views"):
        box = page.locator(row).bounding_box()
        assert box is not None and box["height"] < 80, row  # one row, not four
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first = page.get_by_role("link", name=case.number).bounding_box()
    assert first is not None and first["y"] + first["height"] <= PHONE["viewport"]["height"]
    assert not page.locator("#q").is_visible()
    page.get_by_text("筛选条件").click()
    page.fill("#q", "路面")
    page.get_by_role("button", name="筛选", exact=True).click()
    assert page.locator("#q").is_visible()  # a filter in use keeps them open
    # The chosen saved view, last in its row, is scrolled on screen.
    page.goto(f"{live_server}/admin/?view=extensions")
    chosen = page.locator(".queue-views a[data-view='extensions']").bounding_box()
    assert chosen is not None and chosen["x"] + chosen["width"] <= 390
    assert page.console_errors == []
