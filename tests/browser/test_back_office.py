"""A dispatcher triages and routes a case; a handler answers it with an "after" photo."""

import io

import pyotp
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import object_session

from portal.models import AccountTotp, Department
from portal.services import accounts
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import make_case, make_user

pytestmark = pytest.mark.browser
PASSWORD = "a long demo password"


def staff(db, role, department=None):
    user = make_user(db.session, role, department=department)
    user.password_hash = accounts.hash_password(PASSWORD)
    db.session.commit()
    return user


def sign_in(page, base, user):
    page.goto(base + "/login")
    page.fill("#email", user.email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    totp = object_session(user).get(AccountTotp, user.id)
    if totp is not None:  # admins and dispatchers: the code the app computes from the seed
        page.wait_for_url(base + "/login/verify")
        page.fill("#code", pyotp.TOTP(totp.secret).now())
        page.get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/admin/")


def test_dispatcher_routes_and_handler_resolves(live_server, page_factory, db, reference, tmp_path):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    case, _ = make_case(db.session, category_code="0101", description="学校门口路面塌了一个坑")
    dispatcher, handler = staff(db, "dispatcher"), staff(db, "handler", road)

    page = page_factory(DESKTOP)
    sign_in(page, live_server, dispatcher)
    page.get_by_role("link", name=case.number).click()
    assert page.get_by_text("学校门口路面塌了一个坑").is_visible()
    page.select_option("#accept-priority", "high")
    page.get_by_role("button", name="立案").click()
    page.wait_for_selector(".flash.success")
    page.select_option("#route-department", "ROAD")
    page.get_by_role("button", name="派遣至部门").click()
    page.wait_for_selector(".flash.success")
    assert "已派遣" in page.locator(".case-header").inner_text()

    photo = tmp_path / "after.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 900), "dimgray").save(buffer, "JPEG")
    photo.write_bytes(buffer.getvalue())
    phone = page_factory(PHONE)
    sign_in(phone, live_server, handler)
    phone.get_by_role("link", name=case.number).click()
    phone.get_by_role("button", name="开始处置").click()
    phone.wait_for_selector(".flash.success")
    phone.wait_for_load_state()  # the page script listens for the template choice once loaded
    phone.select_option("#reply-template", index=1)
    assert phone.input_value("#reply-body")
    phone.get_by_role("button", name="公开答复").click()
    phone.wait_for_selector(".flash.success")
    phone.fill("#resolve-body", "坑已用沥青填平。")
    phone.set_input_files("#resolve-photos", str(photo))
    phone.get_by_role("button", name="处置完毕").click()
    phone.wait_for_selector(".flash.success")

    phone.goto(f"{live_server}/cases/{case.number}")
    timeline = phone.locator(".timeline").inner_text()
    assert "已派遣" in timeline and "坑已用沥青填平。" in timeline
    assert phone.locator("img[alt*='处置后']").count() == 1
    assert page.console_errors == [] and phone.console_errors == []


def test_admin_draws_a_project_line_on_the_map(live_server, page_factory, db, reference):
    from portal.models import Project

    admin = staff(db, "admin")
    page = page_factory(DESKTOP)
    sign_in(page, live_server, admin)
    page.goto(live_server + "/admin/projects/new")
    page.fill("#code", "GS-2026-99")
    page.fill("#name", "测试管线工程")
    page.check("#draw-line")
    box = page.locator("#project-map").bounding_box()
    for dx in (0.3, 0.5, 0.7):
        page.mouse.click(box["x"] + box["width"] * dx, box["y"] + box["height"] * 0.5)
    assert '"LineString"' in page.input_value("#geometry")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(live_server + "/admin/projects")
    project = db.session.scalar(select(Project).where(Project.code == "GS-2026-99"))
    assert project.geometry["type"] == "LineString" and len(project.geometry["coordinates"]) == 3
    assert page.console_errors == []


@pytest.mark.parametrize("path", ["/admin/inspections", "/admin/checks"])
def test_the_review_filter_links_read_as_one_line_on_a_phone(
    live_server, page_factory, db, reference, path
):
    page = page_factory(PHONE)
    sign_in(page, live_server, staff(db, "admin"))
    page.goto(live_server + path)
    links = page.locator("p.filters a, p.filters strong")
    assert links.count() == 3
    tops = [links.nth(n).bounding_box()["y"] for n in range(3)]
    # One line, not one grid row per link and dot (a tap-sized link sits a few px higher).
    assert max(tops) - min(tops) < 10, tops
