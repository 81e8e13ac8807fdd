"""The facilities GeoJSON for the maps: by box, type and state, public fields only."""

import pytest
from sqlalchemy import select

from portal.api import facilities as api
from portal.models import Department, FacilityType
from portal.services import facility_register as register

BOX = "120.14,30.26,120.17,30.29"


def kind(db, code: str) -> FacilityType:
    return db.session.scalar(select(FacilityType).where(FacilityType.code == code))


@pytest.fixture
def made(db, reference):
    lamps = kind(db, "0129")
    lamps.department_id = db.session.scalar(select(Department.id).where(Department.code == "LIGHT"))
    lamp = register.create(
        db.session, lamps, {"type": "Point", "coordinates": [120.15, 30.27]}, name="内部台账 A-17"
    )
    road = register.create(
        db.session,
        kind(db, "0201"),
        {"type": "LineString", "coordinates": [[120.165, 30.28], [120.174, 30.28]]},
        state="damaged",
    )
    register.create(db.session, lamps, {"type": "Point", "coordinates": [116.4, 39.9]})
    db.session.commit()
    return lamp, road


def test_facilities_in_a_box_as_geojson(client, made):
    lamp, road = made
    response = client.get(f"/api/v1/facilities.geojson?bbox={BOX}")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    assert "max-age" in response.headers["Cache-Control"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    data = response.get_json()
    assert data["type"] == "FeatureCollection" and data["truncated"] is False
    by_code = {f["properties"]["code"]: f for f in data["features"]}
    assert set(by_code) == {lamp.code, road.code}
    assert by_code[lamp.code]["geometry"] == {"type": "Point", "coordinates": [120.15, 30.27]}
    assert by_code[road.code]["geometry"]["type"] == "LineString"
    properties = by_code[lamp.code]["properties"]
    assert properties["type"] == "0129" and properties["type_name"] == "路灯"
    assert properties["state"] == "intact" and properties["state_label"] == "完好"
    assert properties["url"].endswith(f"/facilities/{lamp.code}")
    # Nothing internal: no owner department, no grid, no name from the office's ledger.
    body = response.get_data(as_text=True)
    assert "LIGHT" not in body and "内部台账" not in body and "department" not in body


def test_english_type_names(client, made):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    data = client.get(f"/api/v1/facilities.geojson?bbox={BOX}&type=0129").get_json()
    [feature] = data["features"]
    assert feature["properties"]["type_name"] == "Street light"
    assert feature["properties"]["state_label"] == "Intact"


def test_filters_by_types_and_state(client, made):
    lamp, road = made
    codes = lambda query: [  # noqa: E731
        f["properties"]["code"]
        for f in client.get(f"/api/v1/facilities.geojson?bbox={BOX}{query}").get_json()["features"]
    ]
    assert codes("&type=0201") == [road.code]
    assert sorted(codes("&type=0129,0201")) == sorted([lamp.code, road.code])
    assert codes("&state=damaged") == [road.code]
    assert codes("&type=0129&state=damaged") == []


def test_a_line_crossing_the_box_is_found(client, made):
    _, road = made
    data = client.get("/api/v1/facilities.geojson?bbox=120.165,30.279,120.166,30.281").get_json()
    assert [f["properties"]["code"] for f in data["features"]] == [road.code]


def test_the_number_of_features_is_capped_and_says_so(client, db, made, monkeypatch):
    monkeypatch.setattr(api, "FEATURE_LIMIT", 1)
    data = client.get(f"/api/v1/facilities.geojson?bbox={BOX}").get_json()
    assert len(data["features"]) == 1 and data["truncated"] is True and data["limit"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "",
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=120,30,119,31",
        "bbox=nan,1,2,3",
        "bbox=inf,0,1,1",
        "bbox=0,95,1,96",
        f"bbox={BOX}&type=9999",
        f"bbox={BOX}&type=0129,zz",
        f"bbox={BOX}&type=" + ",".join(["0129"] * 30),
        f"bbox={BOX}&state=gone",
        f"bbox={BOX}&state=%00",
        "bbox=120,30,121,31",  # too large
        "bbox=-180,-90,180,90",
    ],
)
def test_bad_parameters_get_400_in_json(client, made, query):
    response = client.get(f"/api/v1/facilities.geojson?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == 400


def test_too_large_box_says_why(client, made):
    response = client.get("/api/v1/facilities.geojson?bbox=120,30,121,31")
    assert "太大" in response.get_json()["error"]["message"]
