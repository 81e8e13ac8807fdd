"""Admins' settings pages: accounts, departments, rules, zones, calendar, audit log."""

import csv
import io
import json
import re

import pytest
from sqlalchemy import select

from portal.models import (
    AuditEntry,
    CalendarDay,
    Department,
    OutboxMessage,
    RoutingRule,
    User,
    Zone,
    utcnow,
)


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def admin(login_as):
    return login_as("admin")


def test_admin_creates_and_disables_an_account(client, db, admin):
    response = client.post(
        "/admin/users",
        data={"email": "Li@Example.cn", "name": "李工", "role": "handler", "department": "ROAD"},
    )
    assert response.status_code == 303
    page = client.get("/admin/users").get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.email == "li@example.cn"))
    assert user.department.code == "ROAD" and user.password_hash == ""
    # The admin never sees a password or the link: the new user is mailed the link.
    assert "li@example.cn" in page and "/password/set/" not in page
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == user.email))
    token = re.search(r"/password/set/(\S+)", mail.body).group(1)
    from portal.services import password_links

    assert password_links.account_of(db.session, token, utcnow()) == (user, "setup")
    assert (
        client.post(
            "/admin/users",
            data={"email": "li@example.cn", "name": "x", "role": "handler", "department": "ROAD"},
        ).status_code
        == 422
    )
    no_department = client.post(
        "/admin/users", data={"email": "new@example.cn", "name": "x", "role": "handler"}
    )
    assert no_department.status_code == 422
    # The refusal is under the department select, and the typed e-mail is kept.
    html = no_department.get_data(as_text=True)
    tags = {
        name: next(
            tag for tag in re.findall(r"<(?:input|select)[^>]*>", html) if f'id="{name}"' in tag
        )
        for name in ("email", "department")
    }
    assert 'aria-invalid="true"' in tags["department"]
    assert 'aria-invalid="true"' not in tags["email"]
    assert 'value="new@example.cn"' in html
    client.post(f"/admin/users/{user.id}/toggle", data={"confirm": "1"})
    db.session.refresh(user)
    assert not user.active
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert actions == ["account.create", "account.disable"]


def test_department_head_and_parent(client, db, admin):
    assert (
        client.post(
            "/admin/departments/ROAD",
            data={
                "email": "road@example.cn",
                "phone": "0571",
                "head": str(admin.id),
                "parent": "EMERG",
                "active": "y",
            },
        ).status_code
        == 303
    )
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    assert road.head == admin and road.parent.code == "EMERG"
    assert "0571" in json.dumps(db.session.scalar(select(AuditEntry.after)))


def test_routing_rules_are_added_and_removed(client, db, admin):
    before = db.session.query(RoutingRule).count()
    assert (
        client.post(
            "/admin/rules", data={"category": "0301", "zone": "GS-MS", "department": "EMERG"}
        ).status_code
        == 303
    )
    assert (
        client.post(
            "/admin/rules", data={"category": "0301", "group": "03", "department": "EMERG"}
        ).status_code
        == 422
    )
    rule = db.session.scalars(select(RoutingRule).order_by(RoutingRule.id.desc())).first()
    client.post(f"/admin/rules/{rule.id}/delete", data={"confirm": "1"})
    assert db.session.query(RoutingRule).count() == before


def test_zones_import_from_geojson(client, db, admin):
    square = {
        "type": "Polygon",
        "coordinates": [
            [[120.18, 30.26], [120.19, 30.26], [120.19, 30.27], [120.18, 30.27], [120.18, 30.26]]
        ],
    }
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": square,
                "properties": {
                    "code": "GS-NEW",
                    "name_zh": "新网格",
                    "name_en": "New grid",
                    "level": "grid",
                    "parent": "GS-HS",
                },
            }
        ],
    }
    upload = (io.BytesIO(json.dumps(collection).encode()), "zones.geojson")
    response = client.post(
        "/admin/zones", data={"file": upload}, content_type="multipart/form-data"
    )
    assert response.status_code == 303
    zone = db.session.scalar(select(Zone).where(Zone.code == "GS-NEW"))
    assert zone.parent.code == "GS-HS" and zone.max_lng == pytest.approx(120.19)
    bad = client.post(
        "/admin/zones",
        data={"file": (io.BytesIO(b"not json"), "x.json")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422


def test_calendar_import_and_the_missing_year_warning(client, db, admin):
    page = client.get("/admin/calendar").get_data(as_text=True)
    assert "2027" in page  # November 2026: next year's holidays are missing
    rows = "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-20,workday,春节调休\n"
    response = client.post(
        "/admin/calendar",
        data={"file": (io.BytesIO(rows.encode()), "2027.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert db.session.get(CalendarDay, __import__("datetime").date(2027, 2, 20)).kind == "workday"
    bad = client.post(
        "/admin/calendar",
        data={"file": (io.BytesIO(b"2027-13-01,holiday,x"), "bad.csv")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422


def test_a_bad_calendar_file_is_told_in_chinese_with_its_real_line(client, db, admin):
    rows = "date,kind,name\n2027-01-01,holiday,元旦\nxx,holiday,坏行\n"
    bad = client.post(
        "/admin/calendar",
        data={"file": (io.BytesIO(rows.encode()), "2027.csv")},
        content_type="multipart/form-data",
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "第 3 行" in page and "Line" not in page
    assert db.session.get(CalendarDay, __import__("datetime").date(2027, 1, 1)) is None
    binary = client.post(
        "/admin/calendar",
        data={"file": (io.BytesIO(b"\xff\xfe\x00garbage"), "2027.csv")},
        content_type="multipart/form-data",
    )
    page = binary.get_data(as_text=True)
    assert binary.status_code == 422 and "UTF-8" in page and "codec" not in page


def test_audit_log_lists_and_exports(client, db, admin):
    client.post("/admin/rules", data={"category": "0301", "department": "EMERG"})
    page = client.get("/admin/audit?action=rule").get_data(as_text=True)
    assert "rule.create" in page
    export = client.get("/admin/audit.csv")
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0][:4] == ["id", "time", "actor", "action"]
    # Newest first: the download of this export itself, then the rule.
    assert [row[3] for row in rows[1:3]] == ["download", "rule.create"]


def test_the_audit_log_cannot_be_changed(db, admin):
    from portal.services import audit

    entry = audit.record(db.session, admin, "test", "x", 1)
    db.session.commit()
    entry.action = "changed"
    with pytest.raises(PermissionError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(entry)
    with pytest.raises(PermissionError):
        db.session.commit()
    db.session.rollback()


def test_admin_adds_a_department_then_sets_its_head(client, db, admin):
    answer = client.post(
        "/admin/departments", data={"code": "park", "name_zh": "园林绿化所", "name_en": "Parks"}
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/departments/PARK")
    park = db.session.scalar(select(Department).where(Department.code == "PARK"))
    assert park.name_zh == "园林绿化所" and park.active
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.object_id) == ("department.create", "PARK")
    assert "园林绿化所" in client.get("/admin/departments").get_data(as_text=True)


def test_a_department_code_taken_or_malformed_is_refused(client, db, admin):
    count = db.session.query(Department).count()
    taken = client.post(
        "/admin/departments", data={"code": "ROAD", "name_zh": "重复", "name_en": "Again"}
    )
    assert taken.status_code == 422 and "已存在" in taken.get_data(as_text=True)
    bad = client.post("/admin/departments", data={"code": "<b>", "name_zh": "x", "name_en": "x"})
    assert bad.status_code == 422
    assert db.session.query(Department).count() == count


def test_audit_log_filters_by_dates_in_beijing_time(client, db, admin):
    from datetime import UTC, datetime

    from portal.services import audit

    # 23:30 on 1 November in Beijing is still 31 October in UTC.
    audit.record(
        db.session, admin, "late.evening", "x", 1, now=datetime(2026, 11, 1, 15, 30, tzinfo=UTC)
    )
    audit.record(
        db.session, admin, "next.morning", "x", 2, now=datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    )
    db.session.commit()
    page = client.get("/admin/audit?since=2026-11-01&until=2026-11-01").get_data(as_text=True)
    assert "late.evening" in page and "next.morning" not in page
    export = client.get("/admin/audit.csv?since=2026-11-02").get_data(as_text=True)
    assert "next.morning" in export and "late.evening" not in export
    assert client.get("/admin/audit?since=garbage").status_code == 200


def test_a_partial_calendar_import_keeps_the_warning_and_names_what_is_missing(client, db, admin):
    from portal.services import calendar

    calendar.seed_from_package(db.session)
    db.session.commit()
    rows = "2027-01-01,holiday,元旦\n2027-01-02,holiday,元旦\n2027-01-03,holiday,元旦\n"
    answer = client.post(
        "/admin/calendar",
        data={"file": (io.BytesIO(rows.encode()), "2027.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    page = client.get("/admin/calendar").get_data(as_text=True)
    assert "2027" in page and "春节" in page and "国庆节" in page  # still missing, named
    assert '<th scope="col">名称</th>' in page
    assert "New Year" not in page  # the package's names are shown in Chinese
