"""The map's GeoJSON API."""

import pytest

from tests.factories import make_case

BOX = "120.14,30.26,120.17,30.29"


def test_cases_in_a_box_as_geojson(client, db, reference):
    inside, _ = make_case(db.session, name="王先生", phone="13700000000")
    make_case(db.session, position=(39.9, 116.4))
    response = client.get(f"/api/v1/cases.geojson?bbox={BOX}")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    data = response.get_json()
    assert data["type"] == "FeatureCollection"
    [feature] = data["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [inside.lng, inside.lat]}
    props = feature["properties"]
    assert props["number"] == inside.number and props["state"] == "submitted"
    assert props["url"].endswith(f"/cases/{inside.number}")
    assert "13700000000" not in response.get_data(as_text=True)
    assert "王先生" not in response.get_data(as_text=True)


def test_filters_by_state_and_category(client, db, reference):
    case, _ = make_case(db.session)
    assert client.get(f"/api/v1/cases.geojson?bbox={BOX}&state=closed").get_json()["features"] == []
    same = client.get(f"/api/v1/cases.geojson?bbox={BOX}&category={case.category.code}")
    assert len(same.get_json()["features"]) == 1


def test_hidden_cases_are_left_out(client, db, reference):
    case, _ = make_case(db.session)
    case.hidden = True
    db.session.commit()
    assert client.get(f"/api/v1/cases.geojson?bbox={BOX}").get_json()["features"] == []


@pytest.mark.parametrize(
    "bbox",
    ["", "1,2,3", "a,b,c,d", "120,30,119,31", "0,95,1,96", "nan,1,2,3", "1,2,3,4,5", "inf,0,1,1"],
)
def test_bad_boxes_get_400_in_json(client, bbox):
    response = client.get(f"/api/v1/cases.geojson?bbox={bbox}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == 400


def test_nearby_api_for_me_too(client, db, reference):
    case, _ = make_case(db.session)
    url = f"/api/v1/cases/nearby?lat=30.27411&lng=120.15511&category={case.category.code}"
    [found] = client.get(url).get_json()["cases"]
    assert found["number"] == case.number and found["follow_url"].endswith("/follow")
    assert client.get("/api/v1/cases/nearby?lat=x&lng=1&category=a").status_code == 400
    assert client.get("/api/v1/cases/nearby?lat=1&lng=1&category=zzz").status_code == 400
