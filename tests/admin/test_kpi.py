"""The back-office KPI page and the monthly workbook download."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import select

from portal.models import Department
from tests.kpi_month import build_october


def test_staff_see_each_department_and_street(client, db, login_as):
    build_october(db)
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    login_as("handler", department=road)
    page = client.get("/admin/kpi?month=2026-10").get_data(as_text=True)
    departments = re.search(r'<table[^>]*id="kpi-departments">.*?</table>', page, re.S)[0]
    light = re.search(r'<tr data-code="LIGHT">(.*?)</tr>', departments, re.S)[1]
    assert "100.0%" in light and "1 / 1" in light
    streets = re.search(r'<table[^>]*id="kpi-zones">.*?</table>', page, re.S)[0]
    assert "米市巷街道" in streets and "湖墅街道" in streets
    assert "监督员巡查合格率" in page and "各项指标的统计口径" in page
    # The workbook is for dispatchers and admins.
    assert "/admin/reports/monthly.xlsx" not in page
    assert client.get("/admin/reports/monthly.xlsx?month=2026-10").status_code == 403


def test_a_dispatcher_downloads_the_monthly_workbook(client, db, login_as):
    build_october(db)
    login_as("dispatcher")
    page = client.get("/admin/kpi?month=2026-10").get_data(as_text=True)
    assert "/admin/reports/monthly.xlsx?month=2026-10" in page
    response = client.get("/admin/reports/monthly.xlsx?month=2026-10")
    assert response.status_code == 200 and response.is_streamed
    assert "monthly-report-2026-10.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["绩效指标", "分部门统计", "超时案件", "红黑榜"]
    kpis = [list(r) for r in book["绩效指标"].iter_rows(values_only=True)]
    assert next(r for r in kpis if r[0] == "满意率")[1:5] == [0.5, 0.9, 2, 4]
    assert client.get("/admin/reports/monthly.xlsx?month=10-2026").status_code == 400


def test_staff_see_each_departments_ratings(client, db, login_as):
    from portal.models import Case
    from portal.services import kpi
    from tests.kpi_month import NOW, OCTOBER, TZ

    build_october(db)
    login_as("dispatcher")
    page = client.get("/admin/kpi?month=2026-10").get_data(as_text=True)
    table = re.search(r'<table[^>]*id="kpi-ratings">.*?</table>', page, re.S)[0]
    assert "满意" in table and "基本满意" in table and "不满意" in table
    counted = kpi.ratings_by_department(db.session, OCTOBER, TZ)
    # The table agrees with the satisfaction rate of each department.
    for department, card in kpi.by_department(db.session, OCTOBER, NOW, TZ):
        given = counted.get(department.id, {})
        rate = card.rates["satisfaction_rate"]
        assert sum(given.values()) == rate.denominator
        assert given.get("satisfied", 0) + given.get("basically_satisfied", 0) == rate.numerator
        row = re.search(rf'<tr data-code="{department.code}">(.*?)</tr>', table, re.S)[1]
        cells = re.findall(r"<td[^>]*>(\d+)</td>", row)
        assert [int(c) for c in cells] == [
            given.get(r, 0) for r in ("satisfied", "basically_satisfied", "dissatisfied")
        ]
    assert db.session.query(Case).filter(Case.rating.is_not(None)).count() > 0
