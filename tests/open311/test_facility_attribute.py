"""Open311 and facilities: a bound service lists the facility_code attribute, a POST names
the facility with it (checked, the place snapped to it), and requests show its code."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.models import Case
from tests.factories import CENTRE, bind_category, make_facility
from tests.open311.conftest import BASE, errors_in, json_of

LAT, LNG = CENTRE
LAMP_REPORT = {
    "service_code": "0301",
    "lat": f"{LAT:.6f}",
    "long": f"{LNG:.6f}",
    "description": "这盏路灯晚上一直不亮，路上很黑。",
}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_bound_service_lists_the_facility_attribute(client, db, reference, conforms, fmt):
    bind_category(db.session, "0301", "0129", "damaged")
    listed = client.get(f"{BASE}/services.json").get_json()
    by_code = {s["service_code"]: s for s in listed}
    assert by_code["0301"]["metadata"] is True
    answer = client.get(f"{BASE}/services/0301.{fmt}")
    if fmt == "json":
        body = json_of(answer)
        conforms("service-definition.json", body)
        [facility] = [a for a in body["attributes"] if a["code"] == "facility_code"]
        assert facility["variable"] is True and facility["required"] is False
        assert facility["datatype"] == "string" and "路灯" in facility["description"]
    else:
        assert "facility_code" in answer.get_data(as_text=True)
    unbound = client.get(f"{BASE}/services/0101.json").get_json()
    assert all(a["code"] != "facility_code" for a in unbound["attributes"])


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_names_the_facility_and_requests_show_its_code(client, db, api_key, conforms, fmt):
    bind_category(db.session, "0301", "0129", "damaged")
    lamp = make_facility(db.session, (LAT + 0.0003, LNG), code="330105012900000007")
    posted = client.post(
        f"{BASE}/requests.{fmt}",
        data={**LAMP_REPORT, "api_key": api_key, "attribute[facility_code]": lamp.code},
    )
    assert posted.status_code == 201
    case = db.session.scalar(select(Case))
    assert case.facility_id == lamp.id and (case.lat, case.lng) == (lamp.lat, lamp.lng)
    assert "facility_code" not in case.attributes
    db.session.refresh(lamp)
    assert lamp.state == "damaged"
    shown = client.get(f"{BASE}/requests/{case.number}.json?extensions=true").get_json()
    conforms("requests.json", shown)
    assert {"code": "facility_code", "values": [lamp.code]} in shown[0]["attributes"]
    assert "department" not in str(shown[0]["attributes"])


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_wrong_facility_is_refused_and_saves_nothing(client, db, api_key, fmt):
    bind_category(db.session, "0301", "0129", "damaged")
    far = make_facility(db.session, (LAT + 0.01, LNG), code="330105012900000099")
    cover = make_facility(db.session, (LAT, LNG + 0.0002), "0103", code="330105010300000001")
    for code in ("NOPE", far.code, cover.code):
        answer = client.post(
            f"{BASE}/requests.{fmt}",
            data={**LAMP_REPORT, "api_key": api_key, "attribute[facility_code]": code},
        )
        assert answer.status_code == 400
        [(status, description)] = errors_in(answer, fmt)
        assert status == 400 and description.startswith("attribute[facility_code]: ")
    assert db.session.scalar(select(Case)) is None
    # A service that names no facility ignores the attribute.
    plain = client.post(
        f"{BASE}/requests.{fmt}",
        data={
            **LAMP_REPORT,
            "service_code": "0101",
            "api_key": api_key,
            "attribute[facility_code]": "NOPE",
        },
    )
    assert plain.status_code == 201 and db.session.scalar(select(Case)).facility_id is None
