"""Queue exports: CSV, XLSX and GeoJSON, streamed, scoped and with contacts only for triage."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc

from openpyxl import load_workbook
from sqlalchemy import select

from bench.data import ensure_cases
from portal.models import Department
from tests.factories import make_case

PHONE = "13800001234"


def queue_cases(db):
    """Return a roads case with a reporter's contacts and a lighting case."""
    road, light = (
        db.session.scalar(select(Department).where(Department.code == code))
        for code in ("ROAD", "LIGHT")
    )
    mine, _ = make_case(db.session, name="王女士", phone=PHONE, email="wang@example.cn")
    mine.department, mine.state = road, "dispatched"
    other, _ = make_case(db.session, description='=HYPERLINK("http://x") 路灯不亮')
    other.department, other.state = light, "dispatched"
    db.session.commit()
    return road, mine, other


def read_csv(response) -> list[list[str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")  # Excel needs the mark to read Chinese
    return list(csv.reader(io.StringIO(text[1:])))


def test_a_dispatcher_exports_the_filtered_queue_with_contacts(client, db, login_as):
    _, mine, other = queue_cases(db)
    login_as("dispatcher")
    response = client.get("/admin/export/cases.csv?state=dispatched")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    header, *lines = read_csv(response)
    assert header[:3] == ["案件编号", "状态", "优先级"] and "联系电话" in header
    assert sorted(line[0] for line in lines) == sorted([mine.number, other.number])
    row = next(line for line in lines if line[0] == mine.number)
    assert row[1] == "已派遣" and row[6] == "道路养护所"
    assert PHONE in row and "wang@example.cn" in row
    # A resident's text is never read as a formula by a spreadsheet.
    formula = next(line for line in lines if line[0] == other.number)
    assert any(cell.startswith("'=HYPERLINK") for cell in formula)
    # The queue's filters apply: nothing is submitted.
    assert read_csv(client.get("/admin/export/cases.csv?state=submitted"))[1:] == []


def test_a_handler_exports_only_their_department_without_contacts(client, db, login_as):
    road, mine, other = queue_cases(db)
    login_as("handler", department=road)
    for path in ("/admin/export/cases.csv", "/admin/export/cases.geojson"):
        body = client.get(path).get_data(as_text=True)
        assert mine.number in body and other.number not in body
        assert PHONE not in body and "wang@example.cn" not in body and "王女士" not in body
    header = read_csv(client.get("/admin/export/cases.csv"))[0]
    assert "联系电话" not in header


def test_the_queue_as_an_excel_workbook(client, db, login_as):
    _, mine, _other = queue_cases(db)
    login_as("admin")
    response = client.get("/admin/export/cases.xlsx?state=dispatched")
    assert response.is_streamed
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:2] == ["案件编号", "状态"]
    row = next(r for r in rows if r[0] == mine.number)
    assert row[1] == "已派遣" and PHONE in row
    assert hasattr(row[8], "year")  # the creation time is a real date for Excel


def test_the_queue_as_geojson(client, db, login_as):
    _, mine, _other = queue_cases(db)
    login_as("dispatcher")
    response = client.get("/admin/export/cases.geojson?state=dispatched")
    assert response.is_streamed and response.mimetype == "application/geo+json"
    collection = json.loads(response.get_data())
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2
    feature = next(f for f in collection["features"] if f["properties"]["number"] == mine.number)
    assert feature["geometry"] == {"type": "Point", "coordinates": [mine.lng, mine.lat]}
    assert feature["properties"]["url"].endswith(f"/admin/cases/{mine.number}")


def peak_while_streaming(client, path: str) -> tuple[int, int]:
    """Return the bytes sent and the peak memory allocated while the export streamed."""
    tracemalloc.start()
    try:
        response = client.get(path)
        sent = 0
        for chunk in response.response:
            sent += len(chunk)
        response.close()
        return sent, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_export_streams_with_flat_memory(client, db, login_as):
    login_as("dispatcher")
    ensure_cases(db.session, 1000)
    small_size, small_peak = peak_while_streaming(client, "/admin/export/cases.csv?state=")
    ensure_cases(db.session, 5000)
    large_size, large_peak = peak_while_streaming(client, "/admin/export/cases.csv?state=")
    assert large_size > 4.5 * small_size
    # Five times the rows, fetched a thousand at a time: memory hardly grows.
    assert large_peak < 1.6 * small_peak, (small_peak, large_peak)


def test_every_download_is_in_the_audit_log(client, db, login_as):
    from portal.models import AuditEntry

    make_case(db.session)
    user = login_as("dispatcher")
    for extension in ("csv", "xlsx", "geojson"):
        answer = client.get(f"/admin/export/cases.{extension}?state=submitted")
        answer.get_data()
        answer.close()
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "download")).all()
    assert [e.object_type for e in entries] == ["cases.csv", "cases.xlsx", "cases.geojson"]
    assert all(e.actor_id == user.id and "state=submitted" in e.after["filters"] for e in entries)


def test_a_moderated_description_carries_the_note(client, db, login_as):
    from portal.models import utcnow
    from portal.services import moderation
    from tests.factories import make_user

    case, _ = make_case(db.session, description="邻居电话13800138000，占道。")
    moderation.redact(
        db.session, case, make_user(db.session, "admin"), ["13800138000"], "隐私", utcnow()
    )
    db.session.commit()
    login_as("dispatcher")
    text = client.get("/admin/export/cases.csv").get_data().decode("utf-8")
    line = next(row for row in text.splitlines() if case.number in row)
    assert "13800138000" not in text and "部分内容已隐去" in line
