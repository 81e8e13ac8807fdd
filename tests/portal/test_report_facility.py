"""Reporting on a facility: the form lists the facilities of the category's type near the
pin (without JavaScript too), a pick snaps the pin and is recorded on the case, a refusal
keeps the pick, and the JSON endpoint the script uses shows public fields only."""

import re

import pytest
from sqlalchemy import func, select

from portal.models import Case
from tests.factories import CENTRE, bind_category, make_facility
from tests.portal.test_report import csrf, form_data

LAT, LNG = CENTRE
STEP = 0.0001  # about 11 m of latitude


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def lamps(db, reference):
    bind_category(db.session, "0301", "0129", "damaged")
    return [
        make_facility(db.session, (LAT + 3 * STEP, LNG), code="330105012900000003"),
        make_facility(db.session, (LAT + STEP, LNG), code="330105012900000001"),
        make_facility(db.session, (LAT + 40 * STEP, LNG), code="330105012900000040"),
    ]


def lamp_report(db, **fields):
    lamp = {
        "category": "0301",
        "lat": f"{LAT:.6f}",
        "lng": f"{LNG:.6f}",
        "description": "这盏路灯晚上一直不亮，路上很黑。",
    }
    return form_data(db, **{**lamp, **fields})


def listed_codes(page: str) -> list[str]:
    return re.findall(r'name="facility" value="([^"]+)"', page)


def cases(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Case))


def test_the_list_step_works_without_javascript_and_saves_nothing(client, db, lamps):
    answer = client.post("/report/new", data=lamp_report(db, show_facilities="1"))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and cases(db) == 0
    # Nearest first; the one 440 m away is not offered.
    assert listed_codes(page) == ["330105012900000001", "330105012900000003"]
    assert "路灯" in page and "相距 11 米" in page
    assert 'id="facility-none"' in page and "这盏路灯晚上一直不亮" in page
    assert page.index('id="facilities"') < page.index('id="description"')


def test_sending_without_a_pick_offers_the_facilities_once(client, db, lamps):
    first = client.post("/report/new", data=lamp_report(db))
    page = first.get_data(as_text=True)
    assert first.status_code == 422 and cases(db) == 0
    assert 'id="facilities-notice"' in page and listed_codes(page)[0] == "330105012900000001"
    offered = re.search(r'name="facilities_offered" type="hidden" value="([^"]*)"', page).group(1)
    assert offered == "1"
    second = client.post("/report/new", data=lamp_report(db, facilities_offered="1"))
    assert second.status_code == 303
    assert db.session.scalar(select(Case)).facility_id is None


def test_a_pick_is_recorded_and_the_pin_snaps_to_it(client, db, lamps):
    picked = lamps[0]
    answer = client.post("/report/new", data=lamp_report(db, facility=picked.code))
    assert answer.status_code == 303
    case = db.session.scalar(select(Case))
    assert case.facility_id == picked.id
    assert (case.lat, case.lng) == (picked.lat, picked.lng)
    db.session.refresh(picked)
    assert picked.state == "damaged"


def test_a_refusal_keeps_the_pick_and_the_snapped_pin(client, db, lamps):
    picked = lamps[0]
    answer = client.post(
        "/report/new", data=lamp_report(db, facility=picked.code, description="短")
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and cases(db) == 0
    assert re.search(rf'value="{picked.code}"[^>]*checked', page)
    assert 'id="facility-none"' in page and not re.search(r'id="facility-none"[^>]*checked', page)
    assert f'value="{picked.lat:.6f}"' in page  # the pin is on the lamp
    fixed = client.post("/report/new", data=lamp_report(db, facility=picked.code))
    assert fixed.status_code == 303


def test_a_wrong_pick_is_refused_with_a_reason_and_saves_nothing(client, db, lamps):
    cover = make_facility(db.session, (LAT, LNG + STEP), "0103", code="330105010300000001")
    for code, reason in (
        (cover.code, "不是该类别"),
        (lamps[2].code, "米"),
        ("NOPE", "没有"),
        ("x" * 41, "最多"),
    ):
        answer = client.post("/report/new", data=lamp_report(db, facility=code))
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422 and reason in page, code
    assert cases(db) == 0


def test_a_pick_left_from_an_unbound_category_is_dropped(client, db, lamps):
    data = lamp_report(db, category="0101", facility=lamps[0].code)
    assert client.post("/report/new", data=data).status_code == 303
    assert db.session.scalar(select(Case)).facility_id is None


def test_the_nearby_endpoint_gives_public_fields_and_refuses_bad_input(client, db, lamps):
    found = client.get(
        "/api/v1/facilities/nearby", query_string={"type": "0129", "lat": LAT, "lng": LNG}
    )
    assert found.status_code == 200
    body = found.get_json()
    assert [f["code"] for f in body["facilities"]] == [
        "330105012900000001",
        "330105012900000003",
    ]
    assert set(body["facilities"][0]) == {
        "code",
        "type",
        "type_name",
        "state",
        "state_label",
        "lat",
        "lng",
        "distance_m",
    }
    by_category = client.get(
        "/api/v1/facilities/nearby", query_string={"category": "0301", "lat": LAT, "lng": LNG}
    ).get_json()
    assert by_category["facilities"] == body["facilities"]
    for args in (
        {"type": "0129", "lat": "x", "lng": LNG},
        {"type": "0129", "lat": "nan", "lng": LNG},
        {"type": "0129", "lat": 91, "lng": LNG},
        {"type": "9999", "lat": LAT, "lng": LNG},
        {"category": "0101", "lat": LAT, "lng": LNG},
        {"lat": LAT, "lng": LNG},
        {"type": "0129", "lat": "1e999", "lng": LNG},
    ):
        answer = client.get("/api/v1/facilities/nearby", query_string=args)
        assert answer.status_code == 400 and answer.get_json()["error"]["message"], args


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_the_list_step_needs_the_form_token(client, db, lamps):
    data = lamp_report(db, show_facilities="1")
    refused = client.post("/report/new", data=data)
    assert refused.status_code == 400 and listed_codes(refused.get_data(as_text=True)) == []
    token = csrf(client)
    listed = client.post("/report/new", data={**data, "csrf_token": token})
    assert listed.status_code == 200 and len(listed_codes(listed.get_data(as_text=True))) == 2
