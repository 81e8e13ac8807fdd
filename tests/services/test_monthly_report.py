"""The monthly workbook, opened back with openpyxl: sheets, headers and the month's numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import select

from portal.models import Case, Contractor, ListEntry, utcnow
from portal.services import monthly_report
from tests.kpi_month import NOW, OCTOBER, TZ, build_october


@pytest.fixture
def listed(db, reference):
    now = utcnow()
    for n, (kind, name) in enumerate([("red", "示范建设集团"), ("black", "杭州城建有限公司")]):
        firm = Contractor(name=name, credit_code=f"9111000060003734{n}X")
        db.session.add(
            ListEntry(
                contractor=firm,
                kind=kind,
                reason="连续三次巡查合格" if kind == "red" else "九十天内两次扬尘问题",
                confirmed_at=now - timedelta(days=1),
                expires_on=(now + timedelta(days=180)).date(),
            )
        )
    # Proposed but never confirmed: not on the list.
    db.session.add(
        ListEntry(
            contractor=Contractor(name="未确认公司", credit_code="911100006000373499"),
            kind="black",
            reason="待确认",
        )
    )
    db.session.commit()


def rows(sheet) -> list[list]:
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_the_workbook_holds_the_month_in_chinese(app, db, reference, listed, tmp_path):
    build_october(db)
    path = tmp_path / "report.xlsx"
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        monthly_report.write(db.session, OCTOBER, NOW, TZ, str(path))
    book = load_workbook(path)
    assert book.sheetnames == ["绩效指标", "分部门统计", "超时案件", "红黑榜"]

    kpis = rows(book["绩效指标"])
    assert kpis[0][:2] == ["月份", "2026-10"]
    assert kpis[2] == ["指标", "比率", "目标值", "符合数", "统计数", "口径说明"]
    satisfaction = next(r for r in kpis if r[0] == "满意率")
    assert satisfaction[1:5] == [0.5, 0.9, 2, 4]
    assert book["绩效指标"]["B4"].number_format == "0.0%"
    inspections = next(r for r in kpis if r[0] == "监督员巡查合格率")
    assert inspections[1] == pytest.approx(2 / 3) and inspections[2] == 0.98

    departments = rows(book["分部门统计"])
    assert departments[0][:3] == ["部门", "编码", "按时响应率"]
    light = next(r for r in departments if r[1] == "LIGHT")
    assert light[2] == 1.0  # answered in time, the one case of the month

    late = rows(book["超时案件"])
    assert late[0][:3] == ["案件编号", "问题类别", "部门"]
    numbers = [r[0] for r in late[1:]]
    # Cases 2 (late answer and fix), 3 (fix overdue) and 11 (finding never answered).
    expected = db.session.scalars(
        select(Case.number).where(Case.source == "inspection", Case.responded_at.is_(None))
    ).all()
    assert len(numbers) == 3 and expected[0] in numbers
    by_number = {r[0]: r for r in late[1:]}
    assert by_number[expected[0]][-2:] == ["是", "否"]

    lists = rows(book["红黑榜"])
    assert lists[0][:3] == ["榜单", "施工单位", "统一社会信用代码"]
    assert [(r[0], r[1]) for r in lists[1:]] == [
        ("红榜", "示范建设集团"),
        ("黑榜", "杭州城建有限公司"),
    ]


def test_the_command_writes_the_workbook(runner, db, reference, tmp_path):
    build_october(db)
    path = tmp_path / "monthly.xlsx"
    result = runner.invoke(args=["report", "monthly", "--month", "2026-10", "--output", str(path)])
    assert result.exit_code == 0, result.output
    assert str(path) in result.output
    book = load_workbook(path)
    assert "绩效指标" in book.sheetnames
    english = tmp_path / "monthly-en.xlsx"
    result = runner.invoke(
        args=["report", "monthly", "--month", "2026-10", "--output", str(english), "--locale", "en"]
    )
    assert load_workbook(english).sheetnames == [
        "KPIs",
        "By department",
        "Late cases",
        "Red and black list",
    ]
    assert runner.invoke(args=["report", "monthly", "--month", "2026-1"]).exit_code != 0


def test_an_empty_month_still_makes_a_workbook(app, db, reference, tmp_path):
    path = tmp_path / "empty.xlsx"
    with app.test_request_context(), force_locale("en"):
        monthly_report.write(db.session, date(2026, 1, 1), NOW, TZ, str(path))
    kpis = rows(load_workbook(path)["KPIs"])
    assert next(r for r in kpis if r[0] == "Satisfaction rate")[1:5] == [None, 0.9, 0, 0]
