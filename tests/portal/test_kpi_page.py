"""The public KPI page: the month's rates beside targets, the trend, the definitions."""

from __future__ import annotations

import json
import re
from html import unescape

from tests.kpi_month import build_october


def test_the_page_shows_each_rate_with_its_counts_and_target(client, db, reference):
    build_october(db)
    page = client.get("/kpi?month=2026-10").get_data(as_text=True)
    row = re.search(r'<tr data-kpi="satisfaction_rate">(.*?)</tr>', page, re.S)[1]
    assert "满意率" in row and "50.0%" in row and "≥ 90.0%" in row and "2 / 4" in row
    assert "未达目标" in row
    hazards = re.search(r'<tr data-kpi="major_hazard_rectification_rate">(.*?)</tr>', page, re.S)
    assert "1 / 2" in hazards[1] and "≥ 100.0%" in hazards[1]
    # Anyone can recompute: the definitions are on the page.
    assert "北京时间" in page and "满意或基本满意" in page


def test_the_charts_get_their_numbers_from_a_data_attribute(client, db, reference):
    build_october(db)
    page = client.get("/kpi?month=2026-10").get_data(as_text=True)
    assert "<script>" not in page  # no inline script: the page script reads the attribute
    # The reduced ECharts build, at versioned addresses.
    assert re.search(r'<script defer src="/static/js/kpi\.[0-9a-f]{12}\.js"', page)
    assert re.search(
        r'data-echarts="/static/vendor/echarts/echarts\.kpi\.min\.[0-9a-f]{12}\.js"', page
    )
    attribute = re.search(r'data-kpi-chart="trend" data-chart="([^"]*)"', page)[1]
    trend = json.loads(unescape(attribute))
    assert trend["months"][-1] == "2026-10" and len(trend["months"]) == 12
    satisfaction = next(s for s in trend["series"] if s["name"] == "满意率")
    assert satisfaction["values"][-1] == 50.0 and satisfaction["values"][-2] == 0.0
    trend_table = re.search(
        r'<table class="data-table kpi-trend-table" id="kpi-trend">.*?</table>', page, re.S
    )[0]
    assert "2025-11" in trend_table and "2026-10" in trend_table


def test_english_and_the_nav_link(client, db, reference):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/kpi?month=2026-10").get_data(as_text=True)
    assert "Satisfaction rate" in page and 'href="/kpi"' in page
    assert "How each indicator is counted" in page


def test_a_month_out_of_range_is_explained_next_to_the_field(client, reference):
    for month in ("2026-13", "2026-00", "1999-12", "2026-1x"):
        response = client.get("/kpi", query_string={"month": month})
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert 'aria-describedby="kpi-month-error"' in page
        error = re.search(r'<p class="field-error" id="kpi-month-error">(.*?)</p>', page, re.S)[1]
        assert month in error and "不是有效的月份" in error
