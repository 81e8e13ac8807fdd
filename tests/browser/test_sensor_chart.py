"""A device's chart in a real browser set to another time zone than the office's."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.models import utcnow
from portal.services import readings
from tests.browser.conftest import DESKTOP
from tests.browser.test_back_office import sign_in, staff
from tests.factories import make_device

pytestmark = pytest.mark.browser


def test_the_charts_times_are_the_offices_whatever_the_browsers_zone(
    app, live_server, page_factory, db, reference
):
    device, _ = make_device(db.session, "noise")
    moment = (utcnow() - timedelta(hours=3)).replace(second=0, microsecond=0)
    row = {"device_id": device.id, "ts": moment, "metric": "noise", "value": 55.0}
    readings.store(db.session, [row], readings.Outcome(), {device.id: "noise"})
    db.session.commit()
    office = moment.astimezone(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"]))
    elsewhere = moment.astimezone(ZoneInfo("America/New_York"))
    page = page_factory(DESKTOP, timezone_id="America/New_York")
    sign_in(page, live_server, staff(db, "handler"))
    page.goto(f"{live_server}/admin/devices/{device.id}")
    chart = page.locator("[data-sensor-chart]").first
    chart.locator("canvas").first.wait_for()
    # The one reading's tooltip, as a pointer over it shows it.
    chart.evaluate(
        "el => echarts.getInstanceByDom(el)"
        ".dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0})"
    )
    tooltip = chart.locator("div", has_text="55").last
    tooltip.wait_for()
    text = tooltip.inner_text()
    assert f"{office.month}-{office:%d %H:%M}" in text
    assert f"{elsewhere:%H:%M}" not in text
    assert page.console_errors == []
