"""Admins import a facility survey on the web, after a dry run, and download the register."""

import io
import json

from sqlalchemy import func, select

from portal.models import AuditEntry, Facility


def survey(*points, type_code="0129") -> bytes:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(p)},
            "properties": {"type": type_code},
        }
        for p in points
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def upload(client, data: bytes, name="survey.geojson", **fields):
    token = client.get("/admin/facilities").get_data(as_text=True)
    csrf = token.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    form = {"csrf_token": csrf, "crs": "wgs84", **fields, "file": (io.BytesIO(data), name)}
    return client.post("/admin/facilities", data=form, content_type="multipart/form-data")


def count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Facility))


def test_dry_run_then_import(client, db, login_as):
    login_as("admin")
    page = upload(client, survey((120.14, 30.265), (30.266, 120.141)), dry_run="y")
    text = page.get_data(as_text=True)
    assert page.status_code == 422 and count(db) == 0
    assert "纬度与经度颠倒" in text and "1 个新增" in text
    page = upload(client, survey((120.14, 30.265), (120.141, 30.266)))
    assert page.status_code == 200 and count(db) == 2
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "facilities.import"))
    csv_text = client.get("/admin/facilities/export.csv").get_data(as_text=True)
    assert csv_text.count("3301050129") == 2
    geojson = client.get("/admin/facilities/export.geojson").get_json()
    assert len(geojson["features"]) == 2


def test_an_unreadable_file_says_why(client, db, login_as):
    login_as("admin")
    page = upload(client, b"code,type\n1,0129\n", name="survey.csv")
    assert page.status_code == 422 and "文件无法读取" in page.get_data(as_text=True)


def test_without_csrf_nothing_is_imported(client, db, login_as):
    login_as("admin")
    client.post(
        "/admin/facilities",
        data={"file": (io.BytesIO(survey((120.14, 30.265))), "s.geojson")},
        content_type="multipart/form-data",
    )
    assert count(db) == 0


def test_only_admins(client, db, login_as):
    login_as("dispatcher")
    assert client.get("/admin/facilities").status_code == 403
    assert client.get("/admin/facilities/export.csv").status_code == 403
