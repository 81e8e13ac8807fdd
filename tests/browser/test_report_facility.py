"""Reporting 路灯不亮 on a phone: the lamps nearby are offered on the map and in a list, a
pick snaps the pin onto the lamp and the case names it; without JavaScript too."""

import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import Case
from tests.browser.conftest import PHONE
from tests.factories import CENTRE, bind_category, make_facility

pytestmark = pytest.mark.browser

LAT, LNG = CENTRE


@pytest.fixture
def lamps(db, reference):
    bind_category(db.session, "0301", "0129", "damaged")
    return [
        make_facility(db.session, (LAT + 0.0004, LNG), code="330105012900000044"),
        make_facility(db.session, (LAT + 0.0001, LNG + 0.0001), code="330105012900000011"),
    ]


def test_a_dark_lamp_is_picked_among_the_lamps_nearby(live_server, page_factory, db, lamps):
    page = page_factory(PHONE)
    page.goto(live_server + "/report/new")
    page.select_option("#category", "0301")
    page.fill("#lat", f"{LAT:.6f}")
    page.fill("#lng", f"{LNG:.6f}")
    page.locator("#lng").dispatch_event("change")
    section = page.locator("#facilities")
    expect(section).to_be_visible()
    expect(page.locator("#show-facilities")).to_be_hidden()  # the script lists them itself
    radios = section.locator('input[name="facility"]')
    expect(radios).to_have_count(3)  # two lamps, nearest first, and "none of these"
    assert radios.nth(0).get_attribute("value") == "330105012900000011"
    assert "路灯" in section.inner_text() and "都不是" in section.inner_text()
    # One marker per lamp on the map, beside the resident's own pin.
    expect(page.locator("#report-map path.leaflet-interactive")).to_have_count(2)
    # Keyboard: pick the farther lamp with the arrow keys.
    radios.nth(0).focus()
    page.keyboard.press("ArrowDown")
    expect(radios.nth(1)).to_be_checked()
    far = lamps[0]
    expect(page.locator("#lat")).to_have_value(f"{far.lat:.6f}")  # the pin snapped
    expect(page.locator("#lng")).to_have_value(f"{far.lng:.6f}")
    expect(page.locator("#facilities-status")).to_contain_text(far.code)
    box = section.bounding_box()
    assert box is not None and box["width"] <= 390
    page.fill("#description", "这盏路灯晚上一直不亮，路上很黑。")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/report/done/.*"))
    case = db.session.scalars(select(Case)).one()
    assert case.facility_id == far.id and (case.lat, case.lng) == (far.lat, far.lng)
    assert page.console_errors == []


def test_without_javascript_the_list_comes_from_the_server(live_server, page_factory, db, lamps):
    page = page_factory(PHONE, java_script_enabled=False)
    page.goto(live_server + "/report/new")
    page.select_option("#category", "0301")
    page.fill("#lat", f"{LAT:.6f}")
    page.fill("#lng", f"{LNG:.6f}")
    page.fill("#description", "这盏路灯晚上一直不亮，路上很黑。")
    page.locator("#show-facilities").click()
    page.wait_for_selector("#facilities:not([hidden])")
    near = lamps[1]
    page.locator(f'input[name="facility"][value="{near.code}"]').check()
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/report/done/.*"))
    case = db.session.scalars(select(Case)).one()
    assert case.facility_id == near.id and (case.lat, case.lng) == (near.lat, near.lng)


def test_the_home_map_turns_the_facility_layer_on(live_server, page_factory, app, db, reference):
    """The layer reads /api/v1/facilities.geojson by box (its contract: code, type,
    type_name, state, url) only once turned on and at street zoom."""
    app.config["MAP_ZOOM"] = 16
    asked = []
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [LNG, LAT]},
        "properties": {
            "code": "330105010300000009",
            "type": "0103",
            "type_name": "雨水井盖",
            "state": "missing",
            "url": live_server + "/facilities/330105010300000009",
        },
    }
    road = {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[LNG - 0.001, LAT + 0.0008], [LNG + 0.001, LAT + 0.0008]],
        },
        "properties": {
            "code": "330105020100000001",
            "type": "0201",
            "type_name": "路段",
            "state": "intact",
            "url": None,
        },
    }

    def answer(route):
        asked.append(route.request.url)
        route.fulfill(
            status=200,
            content_type="application/geo+json",
            body=json.dumps({"type": "FeatureCollection", "features": [feature, road]}),
        )

    page = page_factory(PHONE)
    page.route("**/api/v1/facilities.geojson*", answer)
    page.goto(live_server + "/")
    toggle = page.locator("#facility-layer-toggle")
    expect(toggle).to_be_visible()
    assert asked == []  # off until asked for
    toggle.check()
    expect(page.locator("#case-map path.leaflet-interactive")).to_have_count(2)
    assert "bbox=" in asked[-1]
    page.locator("#case-map path.leaflet-interactive").first.click(force=True)
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("雨水井盖")
    expect(popup).to_contain_text("丢失")
    toggle.uncheck()
    expect(page.locator("#case-map path.leaflet-interactive")).to_have_count(0)
    assert page.console_errors == []


def test_when_the_tiles_fail_the_facility_stays_in_the_middle_of_the_lower_map(
    live_server, page_factory, app, db, reference
):
    """Unreachable tiles make the small map lower; the lamp's dot must not drop to its edge."""
    lamp = make_facility(db.session, (LAT, LNG), code="330105012900000077")
    db.session.commit()
    app.config["MAP_TILE_URL"] = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # nothing listens
    page = page_factory(PHONE)
    page.route("http://127.0.0.1:9/**", lambda route: route.abort())
    page.goto(f"{live_server}/facilities/{lamp.code}")
    expect(page.locator("#map-fallback")).to_be_visible()
    box = page.locator("#facility-map").bounding_box()
    dot = page.locator("#facility-map path").bounding_box()
    assert box is not None and dot is not None and box["height"] < 200
    middle = dot["y"] + dot["height"] / 2
    assert abs(middle - (box["y"] + box["height"] / 2)) < 10
