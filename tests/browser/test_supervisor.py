"""A citizen supervisor files a report with a failure and a photo, on a phone."""

import io

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import CHECKLIST, Case, Inspection, Project, utcnow
from portal.services import accounts, spotchecks
from tests.browser.conftest import PHONE
from tests.factories import make_user

pytestmark = pytest.mark.browser
SITE = (30.2741, 120.1551)


def test_supervisor_reports_a_failure_from_the_site(
    live_server, page_factory, db, reference, tmp_path
):
    supervisor = make_user(db.session, "supervisor", name="李建国")
    supervisor.password_hash = accounts.hash_password("a long demo password")
    db.session.add(
        Project(
            code="GS-2026-01",
            name="湖墅南路雨污分流改造工程",
            lat=SITE[0],
            lng=SITE[1],
            phase="construction",
            active_site=True,
            geometry={"type": "Point", "coordinates": [SITE[1], SITE[0]]},
        )
    )
    db.session.commit()
    spotchecks.assign(db.session, utcnow().strftime("%Y-%m"), 1, seed=1, actor=None, now=utcnow())
    db.session.commit()
    photo = tmp_path / "dust.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 900), "tan").save(buffer, "JPEG")
    photo.write_bytes(buffer.getvalue())

    page = page_factory(
        PHONE,
        geolocation={"latitude": SITE[0] + 0.0003, "longitude": SITE[1], "accuracy": 15},
        permissions=["geolocation"],
    )
    page.goto(live_server + "/login")
    page.fill("#email", supervisor.email)
    page.fill("#password", "a long demo password")
    page.get_by_role("button", name="登录").click()
    page.goto(live_server + "/supervisor/")
    assert "湖墅南路雨污分流改造工程" in page.content()
    page.get_by_role("link", name="开始检查").first.click()
    page.get_by_role("button", name="使用我的位置").click()
    expect(page.locator("#lat")).not_to_have_value("")  # no eval: the CSP forbids it
    # The phone's fix travels with its accuracy and time, so the office can trust it.
    assert (
        page.input_value("#accuracy") == "15" and page.input_value("#position_source") == "device"
    )
    assert page.input_value("#fix_time") != ""
    expect(page.locator("#location-status")).to_contain_text("精度约 15 米")
    for item in CHECKLIST:
        value = "fail" if item == "dust" else "pass"
        page.locator(f"input[name='item-{item}'][value='{value}']").check()
    page.fill("#note-dust", "裸土未覆盖")
    page.wait_for_selector("#draft-status:has-text('服务器')")  # saved in the background
    form_url = page.url
    page.reload()  # reopened: the server's draft comes back, same report
    assert page.locator("input[name='item-dust'][value='fail']").is_checked()
    assert page.input_value("#note-dust") == "裸土未覆盖"
    # The connection drops as the report is sent: what was typed last stays on the phone.
    page.fill("#note-dust", "裸土未覆盖，风大扬尘")
    page.context.set_offline(True)
    page.get_by_role("button", name="提交报告").click()
    page.wait_for_load_state()
    page.context.set_offline(False)
    page.goto(form_url)
    assert page.input_value("#note-dust") == "裸土未覆盖，风大扬尘"
    assert page.locator("input[name='item-fencing'][value='pass']").is_checked()
    page.set_input_files("#photo-dust", str(photo))
    page.get_by_role("button", name="提交报告").click()
    page.wait_for_selector(".flash.success")
    report = db.session.scalar(select(Inspection))
    assert report.status == "submitted" and report.verdict == "fail" and not report.off_site
    assert not report.position_typed and report.accuracy_m == 15 and not report.flagged
    assert "待工作人员核实" not in page.content()
    [case] = db.session.scalars(select(Case)).all()
    assert case.category.code == "0701" and len(case.photos) == 1
    assert case.number in page.content()
    assert report.items["dust"]["note"] == "裸土未覆盖，风大扬尘"
    assert len(db.session.scalars(select(Inspection)).all()) == 1
    kept = "Object.keys(localStorage).filter(k => /^inspection-[0-9a-f]+$/.test(k))"
    assert page.evaluate(kept) == []  # the phone's copy goes once the server has the report
    assert page.console_errors == []


def test_a_typed_position_is_sent_as_typed_and_held(
    live_server, page_factory, db, reference, tmp_path
):
    supervisor = make_user(db.session, "supervisor", name="王监督")
    supervisor.password_hash = accounts.hash_password("a long demo password")
    db.session.add(
        Project(
            code="GS-2026-02",
            name="教场路人行道改造",
            lat=SITE[0],
            lng=SITE[1],
            phase="construction",
            active_site=True,
            geometry={"type": "Point", "coordinates": [SITE[1], SITE[0]]},
        )
    )
    db.session.commit()
    photo = tmp_path / "site.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), "grey").save(buffer, "JPEG")
    photo.write_bytes(buffer.getvalue())
    page = page_factory(PHONE)  # no location permission: the coordinates are typed
    page.goto(live_server + "/login")
    page.fill("#email", supervisor.email)
    page.fill("#password", "a long demo password")
    page.get_by_role("button", name="登录").click()
    page.goto(live_server + "/supervisor/inspect/GS-2026-02")
    page.fill("#lat", f"{SITE[0]}")
    page.fill("#lng", f"{SITE[1]}")
    assert page.input_value("#position_source") == "typed" and page.input_value("#accuracy") == ""
    for item in CHECKLIST:
        page.locator(f"input[name='item-{item}'][value='pass']").check()
    page.get_by_role("button", name="提交报告").click()
    expect(page.locator(".flash.error")).to_contain_text("合格也需要至少一张现场照片")
    assert page.input_value("#lat") == f"{SITE[0]}"  # kept, with the answers
    assert page.locator("input[name='item-tidy'][value='pass']").is_checked()
    page.set_input_files("#photo-tidy", str(photo))
    page.get_by_role("button", name="提交报告").click()
    expect(page.locator("#review-status")).to_contain_text("待工作人员核实")
    report = db.session.scalar(select(Inspection).where(Inspection.supervisor_id == supervisor.id))
    assert report.position_typed and report.review_reasons == ["typed"]
    assert page.console_errors == []
