"""A dispatcher writes and publishes a notice; residents read it on /notices and the project."""

import pytest
from sqlalchemy import select

from portal.models import Notice, utcnow
from tests.browser.conftest import DESKTOP, PHONE, main_menu
from tests.browser.test_back_office import sign_in, staff
from tests.factories import make_case, make_project

pytestmark = pytest.mark.browser


def test_dispatcher_publishes_a_notice_the_public_reads(
    live_server, page_factory, db, reference, tmp_path
):
    project = make_project(db.session, "GS-2026-02", name="大关路道路提升工程")
    case, _ = make_case(db.session, position=(30.2750, 120.1560), description="工地旁路面塌陷。")
    dispatcher = staff(db, "dispatcher")

    page = page_factory(DESKTOP)
    sign_in(page, live_server, dispatcher)
    page.locator(".admin-nav").get_by_role("link", name="公告", exact=True).click()
    page.get_by_role("link", name="撰写公告").click()
    page.fill("#title", "大关路道路提升工程路面摊铺完成")
    page.select_option("#kind", "progress")
    page.fill("#body", "## 本周进展\n\n- 机动车道沥青摊铺 **全部完成**\n- 人行道铺装进行中")
    page.select_option("#project", project.code)
    page.fill("#cases", case.number)
    page.get_by_role("button", name="保存草稿并预览").click()
    page.wait_for_selector(".flash.success")
    preview = page.locator(".preview-frame")
    assert preview.locator("h2", has_text="本周进展").is_visible()
    assert preview.locator("strong", has_text="全部完成").is_visible()
    assert "草稿" in page.locator(".notice-meta").first.inner_text()
    page.get_by_role("button", name="发布", exact=True).click()
    page.wait_for_selector(".flash.success")
    assert "已发布" in page.locator(".notice-meta").first.inner_text()
    notice = db.session.scalar(select(Notice))
    assert notice.status(utcnow()) == "published" and [c.number for c in notice.cases] == [
        case.number
    ]

    phone = page_factory(PHONE)
    phone.goto(live_server + "/")
    main_menu(phone).get_by_role("link", name="公告", exact=True).click()
    phone.wait_for_url(live_server + "/notices")
    assert phone.get_by_text("共 1 条公告").is_visible()
    phone.get_by_role("link", name="大关路道路提升工程路面摊铺完成").click()
    assert phone.locator("h1", has_text="大关路道路提升工程路面摊铺完成").is_visible()
    assert phone.locator(".notice-body strong", has_text="全部完成").is_visible()
    phone.screenshot(path=str(tmp_path / "notice-phone.png"), full_page=True)
    phone.get_by_role("link", name="大关路道路提升工程").first.click()
    phone.wait_for_url(f"{live_server}/projects/{project.code}")
    notices = phone.locator(".notice-list")
    assert notices.get_by_role("link", name="大关路道路提升工程路面摊铺完成").is_visible()
    assert phone.get_by_role("link", name=f"{case.number} · ", exact=False).first.is_visible()
    # The site and the related case are both drawn on the map (only the case is tappable).
    shapes = phone.locator("#sites-map .leaflet-overlay-pane path")
    shapes.nth(1).wait_for(state="attached")
    assert shapes.count() == 2
    assert phone.locator("#sites-map .leaflet-interactive").count() == 1
    assert page.console_errors == [] and phone.console_errors == []
    assert (tmp_path / "notice-phone.png").stat().st_size > 0
