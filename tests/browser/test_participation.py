"""A resident comments on a consultation and sends a suggestion, in a real browser."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import ConsultationComment, Suggestion, utcnow
from portal.services import consultations
from tests.browser.conftest import main_menu
from tests.factories import make_consultation, make_user

pytestmark = pytest.mark.browser


def test_comment_on_a_consultation(live_server, page_factory, viewport, db, reference):
    staff = make_user(db.session, role="dispatcher")
    consultation = make_consultation(db.session, staff, opened=utcnow() - timedelta(days=1))
    page = page_factory(viewport)
    page.goto(live_server + "/")
    main_menu(page).get_by_role("link", name="征求意见").click()
    page.get_by_role("link", name=consultation.title).click()
    page.get_by_role("button", name="提交意见").click()  # empty: the error shows by the field
    assert page.locator("#body-error").is_visible()
    page.fill("#body", "施工期间请保留公交站台，附近老人多。")
    page.fill("#email", "chen@example.cn")
    page.get_by_role("button", name="提交意见").click()
    page.wait_for_url(re.compile(r".*/sent$"))
    link = page.input_value("#tracking-link")
    comment = db.session.scalars(select(ConsultationComment)).one()
    consultations.approve(db.session, staff, comment, utcnow())
    db.session.commit()
    page.goto(link)
    assert page.locator(".status-approved").is_visible()
    page.goto(live_server + f"/consultations/{consultation.id}")
    assert "施工期间请保留公交站台" in page.content()
    assert "chen@example.cn" not in page.content()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["viewport"]["width"]
    assert page.console_errors == []


def test_send_a_suggestion_in_english(live_server, page_factory, db, reference):
    from tests.browser.conftest import PHONE

    page = page_factory(PHONE, locale="en")
    page.goto(live_server + "/suggestions/new")
    page.fill("#title", "Benches along the cycle path")
    page.fill("#body", "A bench every two hundred metres would help older people.")
    page.get_by_role("button", name="Send my suggestion").click()
    page.wait_for_url(re.compile(r".*/sent$"))
    page.goto(page.input_value("#tracking-link"))
    assert page.get_by_text("Under review").is_visible()
    assert db.session.scalars(select(Suggestion)).one().locale == "en"
    assert page.console_errors == []
