"""The one map for staff on a phone, in Chinese: every layer listed, the demo surge's hotspot
drawn and opened, the layers switched from the keyboard, without tiles."""

from zoneinfo import ZoneInfo

import pytest

from portal.models import utcnow
from portal.services import demo_hotspots
from tests.browser.conftest import PHONE
from tests.browser.test_back_office import sign_in, staff
from tests.factories import make_device, make_project

pytestmark = pytest.mark.browser


def test_the_one_map_shows_the_layers_and_the_hotspot_on_a_phone(
    live_server, page_factory, db, reference
):
    added = demo_hotspots.load_surge(db.session, utcnow(), ZoneInfo("Asia/Shanghai"))
    make_project(db.session, code="GS-M", phase="construction", active_site=True)
    db.session.commit()
    assert added["hotspots"] == 1
    page = page_factory(PHONE)
    sign_in(page, live_server, staff(db, "dispatcher"))
    page.goto(live_server + "/admin/map")
    layers = page.locator("#map-layers")
    for label in (
        "案件",
        "在建工程与工地",
        "部件",
        "网格",
        "热点",
        "设备（传感器）",
        "未处理的告警",
    ):
        assert label in layers.inner_text()
    assert page.locator("#layer-devices").is_enabled()
    assert page.locator("#layer-alarms").is_checked()  # open alarms show at once
    map_box = page.locator("#one-map")
    page.locator("#one-map[data-loaded-hotspots='1']").wait_for(state="attached")
    page.locator("#one-map[data-loaded-grid='16']").wait_for(state="attached")
    page.locator("#one-map[data-loaded-cases]").wait_for(state="attached")
    assert int(map_box.get_attribute("data-loaded-cases")) >= 8
    assert "显示" in page.locator("#count-cases").inner_text()
    # without tiles the map says so, and the list beside it names the hotspot
    assert page.locator("#map-fallback").is_visible()
    assert "排水" in page.locator(".hotspot-list").inner_text()
    mark = page.locator("path.hotspot-mark")
    assert mark.count() == 1
    page.locator("#layer-cases").uncheck()  # the cases behind it cluster on its middle
    mark.first.click(force=True)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "排水" in popup.inner_text() and "本周 8 件" in popup.inner_text()
    assert popup.locator("a").get_attribute("href").startswith("/admin/hotspots#hotspot-")
    # the layers switch from the keyboard
    grid = page.locator("#layer-grid")
    grid.focus()
    page.keyboard.press("Space")
    assert not grid.is_checked()
    assert page.locator("#count-grid").inner_text() == ""
    box = map_box.bounding_box()
    assert box["width"] <= PHONE["viewport"]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
    assert page.console_errors == []


def test_alarms_take_a_tap_over_a_cluster_of_devices_and_share_one_mark_a_place(
    live_server, page_factory, db, reference
):
    from portal.services import alarms, readings

    site = make_project(db.session, code="GS-A", phase="construction", active_site=True)
    devices = [
        make_device(db.session, "cover_tilt", project=site, lat=30.2741, lng=120.1551)[0]
        for _ in range(6)
    ]
    now = utcnow()
    rows = [  # knocked: tilted and open, two alarms at one place
        {"device_id": devices[0].id, "ts": now, "metric": "tilt", "value": 40.0},
        {"device_id": devices[0].id, "ts": now, "metric": "open", "value": 1.0},
    ]
    new = readings.store(db.session, rows, readings.Outcome(), {devices[0].id: "cover_tilt"})
    alarms.evaluate_stored(db.session, new, now)
    db.session.commit()
    page = page_factory(PHONE)
    sign_in(page, live_server, staff(db, "dispatcher"))
    page.goto(live_server + "/admin/map")
    page.locator("#layer-cases").uncheck()
    page.locator("#layer-devices").check()
    page.locator("#one-map[data-loaded-devices='6']").wait_for(state="attached")
    page.locator("#one-map[data-loaded-alarms='2']").wait_for(state="attached")
    mark = page.locator("path.alarm-mark")
    assert mark.count() == 1  # one mark for the place, none hidden under another
    mark.click()  # not forced: the alarm is on top of the devices' cluster, and takes it
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "井盖倾斜" in popup.inner_text() and "井盖打开" in popup.inner_text()
    assert popup.locator("a").count() == 2
    assert page.console_errors == []
