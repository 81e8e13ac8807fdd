"""The public KPI page in a real browser, in both languages, on a phone and a desktop."""

from __future__ import annotations

import pytest

from tests.browser.conftest import main_menu
from tests.kpi_month import build_october

pytestmark = pytest.mark.browser

CASES = {
    "zh-CN": ("满意率", "近十二个月趋势", "绩效指标"),
    "en-GB": ("Satisfaction rate", "The last twelve months", "Performance"),
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-GB"])
def test_the_charts_are_drawn_beside_their_tables(
    live_server, page_factory, viewport, db, reference, locale
):
    build_october(db)
    label, trend_heading, nav = CASES[locale]
    page = page_factory(viewport, locale=locale)
    page.goto(f"{live_server}/")
    main_menu(page).get_by_role("link", name=nav, exact=True).click()
    page.get_by_label("月份" if locale == "zh-CN" else "Month", exact=True).fill("2026-10")
    page.get_by_role("button", name="查看" if locale == "zh-CN" else "Show").click()
    page.wait_for_url("**/kpi?month=2026-10")
    # ECharts, fetched when a chart comes near the screen, drew both charts on canvases;
    # their room was kept before, so the table below does not move when they draw.
    table_top = page.locator("#kpi-scorecard").evaluate("t => t.getBoundingClientRect().top")
    for chart in ("month", "trend"):
        page.locator(f'[data-kpi-chart="{chart}"]').scroll_into_view_if_needed()
        canvas = page.locator(f'[data-kpi-chart="{chart}"] canvas')
        canvas.first.wait_for()
        assert canvas.first.bounding_box()["height"] > 200
        if chart == "month":
            page.evaluate("window.scrollTo(0, 0)")
            top = page.locator("#kpi-scorecard").evaluate("t => t.getBoundingClientRect().top")
            assert top == table_top
    # The table beside each chart holds the numbers.
    row = page.locator('#kpi-scorecard tr[data-kpi="satisfaction_rate"]')
    assert label in row.inner_text()
    assert "50.0%" in row.inner_text() and "2 / 4" in row.inner_text()
    assert page.get_by_role("heading", name=trend_heading).is_visible()
    trend = page.locator("#kpi-trend")
    assert "2026-10" in trend.inner_text() and "2025-11" in trend.inner_text()
    assert page.console_errors == []


def test_without_javascript_the_tables_remain(live_server, page_factory, db, reference):
    build_october(db)
    page = page_factory({"viewport": {"width": 390, "height": 844}}, java_script_enabled=False)
    page.goto(f"{live_server}/kpi?month=2026-10")
    assert page.locator("[data-kpi-chart] canvas").count() == 0
    assert "50.0%" in page.locator('tr[data-kpi="satisfaction_rate"]').inner_text()
