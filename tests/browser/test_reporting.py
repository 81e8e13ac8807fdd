"""A resident reports, says "me too" and follows a case, in a real browser."""

import io
import re
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import Case
from tests.browser.conftest import PHONE
from tests.factories import category, make_case

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(request) -> dict:
    """Serve with CSRF on, as in production; the limit test also turns the limits on."""
    if "limit" in request.node.name:
        return {
            "WTF_CSRF_ENABLED": True,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_REPORT": "1 per hour",
        }
    return {"WTF_CSRF_ENABLED": True}


def phone_photo(path) -> str:
    """Write a phone-like JPEG with GPS in its EXIF; return its path."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated, as phones save portrait shots
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (30.0, 16.0, 27.0), 3: "E", 4: (120.0, 9.0, 19.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), "steelblue").save(buffer, "JPEG", exif=exif)
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_report_a_problem_with_a_photo(
    live_server, page_factory, viewport, db, reference, tmp_path
):
    page = page_factory(viewport)
    page.goto(live_server + "/")
    assert page.locator("html").get_attribute("lang") == "zh-Hans-CN"
    page.locator("main").get_by_role("link", name="我要反映").click()
    page.wait_for_url("**/report/new")
    page.select_option("#category", category(db.session).code)
    page.fill("#description", "小区门口的路灯已经坏了一个星期，晚上很黑。")
    page.set_input_files("#photos", phone_photo(tmp_path / "IMG_0042.jpg"))
    # The photo's GPS fills the place, before the photo is ever uploaded.
    expect(page.locator("#lat")).not_to_have_value("")  # no eval: the CSP forbids it
    assert float(page.input_value("#lat")) == pytest.approx(30.2742, abs=1e-3)
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/report/done/.*"))
    number = page.locator(".case-number").inner_text()
    link = page.input_value("#tracking-link")
    assert "/track/" in link
    page.goto(live_server + urlsplit(link).path)  # the link is built on PUBLIC_URL
    assert number in page.content()
    case = db.session.scalars(select(Case)).one()
    assert case.number == number and len(case.photos) == 1
    assert case.photos[0].height > case.photos[0].width  # the EXIF orientation was applied
    page.goto(live_server + f"/cases/{number}")
    page.wait_for_selector(f"img[src*='{case.photos[0].sha256}']")
    assert page.console_errors == []


def test_errors_are_shown_next_to_the_fields(live_server, page_factory, viewport, db, reference):
    page = page_factory(viewport)
    page.goto(live_server + "/report/new")
    # No tile server is configured in tests: the page says so and the fields still work.
    assert page.locator("#map-fallback").is_visible()
    page.fill("#description", "<script>alert(1)</script>")
    page.get_by_role("button", name="提交").click()
    assert page.locator("#errors-summary").is_visible()
    assert page.locator("#category-error").is_visible()
    assert page.locator("#lat-error").is_visible()
    assert page.locator("#description-error").is_visible()
    assert page.input_value("#description") == "<script>alert(1)</script>"
    assert db.session.scalars(select(Case)).all() == []
    assert page.console_errors == []


def test_me_too_instead_of_a_new_report(live_server, page_factory, db, reference):
    from tests.browser.conftest import DESKTOP

    existing, _ = make_case(db.session)
    page = page_factory(DESKTOP)
    page.goto(live_server + "/report/new")
    page.select_option("#category", existing.category.code)
    page.fill("#lat", "30.27411")
    page.fill("#lng", "120.15512")
    page.locator("#lng").dispatch_event("change")
    page.wait_for_selector("#nearby:not([hidden])")
    assert existing.number in page.locator("#nearby").inner_text()
    page.locator("#nearby-list").get_by_role("button", name="我也遇到").click()
    page.wait_for_url(f"**/cases/{existing.number}#follow-heading")
    db.session.refresh(existing)
    assert existing.followers_count == 1
    assert page.console_errors == []


def test_follow_a_case_from_its_tracking_link_in_english(live_server, page_factory, db, reference):
    case, token = make_case(db.session)
    page = page_factory(PHONE, locale="en-US")
    page.goto(f"{live_server}/track/{token}")
    assert page.locator("html").get_attribute("lang") == "en"
    assert case.number in page.locator("h1").inner_text()
    assert page.get_by_text("Your private view").is_visible()
    page.get_by_role("link", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-Hans-CN"
    assert page.console_errors == []


def plain_photo(path, color: str = "seagreen") -> str:
    """Write a JPEG without GPS; return its path."""
    Image.new("RGB", (1200, 900), color).save(path, "JPEG")
    return str(path)


def fill_place_and_category(page, code: str) -> None:
    page.select_option("#category", code)
    page.fill("#lat", "30.27411")
    page.fill("#lng", "120.15512")
    page.locator("#lng").dispatch_event("change")


def kept_thumbnails_load(page) -> int:
    """Return how many kept thumbnails the page shows, each fetched as this form would."""
    sources = [img.get_attribute("src") for img in page.locator(".kept-photos img").all()]
    for src in sources:
        assert page.request.get(page.url.split("/report")[0] + src).status == 200
    return len(sources)


def test_photos_survive_an_error(live_server, page_factory, db, reference, tmp_path):
    page = page_factory(PHONE)
    page.goto(live_server + "/report/new")
    fill_place_and_category(page, category(db.session).code)
    page.set_input_files("#photos", plain_photo(tmp_path / "IMG_0100.jpg"))
    page.get_by_role("button", name="提交").click()  # no description yet
    assert page.locator("#description-error").is_visible()
    assert page.get_by_text("您的照片已保留，无需重新添加。").is_visible()
    assert kept_thumbnails_load(page) == 1
    assert page.input_value("#lat") == "30.27411"
    page.fill("#description", "人行道的地砖翘起来了，老人容易绊倒。")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/report/done/.*"))
    case = db.session.scalars(select(Case)).one()
    assert len(case.photos) == 1
    assert page.console_errors == []


def test_the_rate_limit_keeps_the_form(live_server, page_factory, db, reference, tmp_path):
    code = category(db.session).code
    page = page_factory(PHONE)
    page.goto(live_server + "/report/new")
    fill_place_and_category(page, code)
    page.fill("#description", "第一条反映：路灯不亮。")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/report/done/.*"))
    page.goto(live_server + "/report/new")
    page.select_option("#category", code)
    page.fill("#lat", "30.28411")  # elsewhere: no "similar case" step
    page.fill("#lng", "120.15512")
    page.fill("#description", "第二条反映：排水沟盖板缺了一块。")
    page.fill("#name", "王女士")
    page.set_input_files("#photos", plain_photo(tmp_path / "IMG_0101.jpg", "tan"))
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="提交").click()
    assert posted.value.status == 429
    notice = page.locator("#limit-notice")
    assert notice.is_visible() and "请求过于频繁" in notice.inner_text()
    assert "分钟后再试" in notice.inner_text()
    assert page.input_value("#description") == "第二条反映：排水沟盖板缺了一块。"
    assert page.input_value("#name") == "王女士" and page.input_value("#category") == code
    assert kept_thumbnails_load(page) == 1
    assert len(db.session.scalars(select(Case)).all()) == 1
    assert page.console_errors == []


def test_the_nearby_offer_is_in_view_while_typing(live_server, page_factory, db, reference):
    existing, _ = make_case(db.session)
    page = page_factory(PHONE)
    page.goto(live_server + "/report/new")
    fill_place_and_category(page, existing.category.code)
    page.wait_for_selector("#nearby:not([hidden])")
    page.locator("#description").click()
    page.keyboard.type("路面有个坑")
    expect(page.locator("#description")).to_be_focused()
    box = page.locator("#nearby").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844
    expect(page.locator("#description-count")).to_contain_text("1995")
    # A long paste is not cut: the counter says how much is too much.
    page.fill("#description", "坑" * 2100)
    assert len(page.input_value("#description")) == 2100
    expect(page.locator("#description-count")).to_contain_text("100")
    assert existing.number in page.locator("#nearby").inner_text()
    # Going past the offer that was seen sends the report without a second stop.
    page.fill("#description", "路面有个坑，和旁边那个不是同一个。")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/report/done/.*"))
    assert len(db.session.scalars(select(Case)).all()) == 2
    assert page.console_errors == []
