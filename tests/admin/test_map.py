"""The one map for staff: layers by box, a handler's own department, the hotspots list."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.models import Department, Facility, FacilityType, Hotspot, Zone, utcnow
from portal.services import hotspots, workflow
from tests.factories import make_case, make_project, make_user

BOX = "120.13,30.26,120.18,30.29"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def district(db, reference):
    """Two departments' cases (one overdue), a site, a lamp, and this week's hotspot."""
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    other = db.session.scalar(select(Department).where(Department.code != "ROAD"))
    dispatcher = make_user(db.session, "dispatcher")
    now = utcnow()
    mine, _ = make_case(db.session, category_code="0101", position=(30.2741, 120.1551))
    theirs, _ = make_case(db.session, category_code="0101", position=(30.2800, 120.1600))
    workflow.route(db.session, mine, dispatcher, road, now)
    workflow.route(db.session, theirs, dispatcher, other, now)
    mine.respond_due_at = mine.resolve_due_at = now - timedelta(hours=1)  # overdue
    make_project(db.session, code="GS-1", phase="construction", active_site=True)
    lamp = db.session.scalar(select(FacilityType).where(FacilityType.geometry_kind == "point"))
    db.session.add(
        Facility(
            code="330105LAMP0001",
            type=lamp,
            geometry={"type": "Point", "coordinates": [120.15, 30.275]},
            lat=30.275,
            lng=120.15,
            min_lat=30.275,
            min_lng=120.15,
            max_lat=30.275,
            max_lng=120.15,
            state="damaged",
            department=road,
        )
    )
    cell = db.session.scalar(select(Zone).where(Zone.level == "grid").order_by(Zone.code))
    db.session.add(
        Hotspot(
            week_start=hotspots.current_week(now, ZoneInfo("Asia/Shanghai")),
            zone=cell,
            group_id=mine.category.group_id,
            observed=6,
            expected=0.5,
            baseline_weeks=8,
            p_value=0.0002,
            case_ids=[mine.id],
        )
    )
    db.session.commit()
    return road, other, mine, theirs


def layer(client, name: str, **args):
    return client.get(f"/admin/api/map/{name}.geojson", query_string={"bbox": BOX, **args})


def test_a_dispatcher_sees_every_layer_in_the_box(client, district, login_as):
    _road, _other, mine, theirs = district
    login_as("dispatcher")
    page = client.get("/admin/map")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for label in ("案件", "在建工程", "部件", "网格", "热点", "设备（传感器）", "未处理的告警"):
        assert label in text
    assert "js/one_map." in text and "markercluster" in text
    cases = layer(client, "cases").get_json()["features"]
    by_number = {f["properties"]["number"]: f["properties"] for f in cases}
    assert by_number[mine.number]["overdue"] is True
    assert by_number[theirs.number]["overdue"] is False
    assert by_number[mine.number]["url"] == f"/admin/cases/{mine.number}"
    narrowed = layer(client, "cases", department="ROAD").get_json()["features"]
    assert [f["properties"]["number"] for f in narrowed] == [mine.number]
    works = layer(client, "works").get_json()["features"]
    assert works[0]["properties"]["code"] == "GS-1" and works[0]["properties"]["site"] is True
    facilities = layer(client, "facilities").get_json()["features"]
    assert facilities[0]["properties"]["code"] == "330105LAMP0001"
    assert set(facilities[0]["properties"]) == {"code", "type", "type_name", "state", "url"}
    assert facilities[0]["properties"]["state"] == "damaged"
    grid = layer(client, "grid").get_json()["features"]
    assert len(grid) == 16 and sum(f["properties"]["open"] for f in grid) == 2
    heat = layer(client, "hotspots").get_json()["features"]
    assert heat[0]["properties"]["observed"] == 6
    assert heat[0]["geometry"]["coordinates"] == [mine.lng, mine.lat]
    outside = client.get("/admin/api/map/cases.geojson", query_string={"bbox": "100,10,101,11"})
    assert outside.get_json()["features"] == []


def test_a_handler_sees_only_their_departments_work(client, db, district):
    road, other, mine, theirs = district
    from tests.conftest import AuthActions

    AuthActions(client).login(make_user(db.session, "handler", department=road))
    numbers = [f["properties"]["number"] for f in layer(client, "cases").get_json()["features"]]
    assert numbers == [mine.number]
    forced = layer(client, "cases", department=other.code).get_json()["features"]
    assert [f["properties"]["number"] for f in forced] == [mine.number]
    page = client.get("/admin/map").get_data(as_text=True)
    assert theirs.number not in page and 'id="m-department"' not in page
    assert client.get("/admin/hotspots").status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"bbox": "a,b,c,d"},
        {"bbox": "120.2,30.3,120.1,30.2"},
        {"bbox": "1e999,0,0,0"},
        {"bbox": BOX, "department": "NOPE"},
        {"bbox": BOX, "category": "x" * 500},
        {"bbox": BOX, "type": "9999"},
    ],
)
def test_bad_boxes_and_filters_get_a_clear_400(client, district, login_as, query):
    login_as("dispatcher")
    answer = client.get("/admin/api/map/cases.geojson", query_string=query)
    assert answer.status_code == 400 and answer.get_json()["error"]["message"]


def test_unknown_layers_filters_and_outsiders(client, district, login_as, auth):
    assert client.get("/admin/map").status_code in (302, 303)  # sign in first
    assert layer(client, "cases").status_code in (302, 303)
    login_as("supervisor")
    assert client.get("/admin/map").status_code == 403
    assert layer(client, "cases").status_code == 403
    login_as("dispatcher")
    assert layer(client, "weather").status_code == 404
    assert client.get("/admin/map?department=NOPE").status_code == 400


def test_the_hotspot_list_shows_expected_observed_and_the_cases(client, db, district, login_as):
    _road, _other, mine, _theirs = district
    login_as("dispatcher")
    page = client.get("/admin/hotspots")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert mine.number in text and "6" in text and "0.5" in text
    assert client.get("/admin/hotspots?week=2026-W99").status_code == 400
    assert client.get("/admin/hotspots?week=1999-01-01").status_code == 400
    assert client.get("/admin/hotspots?week=2020-W10").status_code == 200
    # recomputing this week replaces the planted row with what the cases say: nothing
    assert client.post("/admin/hotspots").status_code == 303
    assert db.session.scalar(select(Hotspot)) is None


def test_the_overdue_list_beside_the_map_leads_to_every_overdue_case(client, db, login_as):
    from datetime import timedelta

    from portal.models import utcnow
    from tests.factories import make_case

    case, _ = make_case(db.session)
    case.respond_due_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    login_as("dispatcher")
    page = client.get("/admin/map").get_data(as_text=True)
    # The list is capped: its heading is no total, and the queue's view holds them all.
    assert "超期最久的案件 (1)" in page and case.number in page
    assert 'href="/admin/?view=overdue"' in page
