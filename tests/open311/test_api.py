"""Open311 GeoReport v2: every answer valid against the official schemas, in both formats."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from jsonschema import FormatChecker, ValidationError
from sqlalchemy import select

from portal.models import ApiKey, Case, Department, utcnow
from portal.services import workflow
from portal.services.photos import PhotoStore
from tests.factories import jpeg_bytes, jpeg_photo, make_case, make_user
from tests.open311.conftest import BASE, errors_in, json_of, xml_of

REPORT = {
    "service_code": "0402",
    "lat": "30.2741",
    "long": "120.1551",
    "description": "人行道上的井盖碎了一角，晚上看不清很危险。",
    "attribute[cover_type]": "sewage",
    "attribute[lane]": "pavement",
    "first_name": "伟",
    "last_name": "王",
    "email": "wang.private@example.cn",
    "phone": "13912345678",
}


def post(client, key: str, fmt: str = "json", photo: bool = False, **fields):
    data = {**REPORT, "api_key": key, **fields}
    data = {k: v for k, v in data.items() if v is not None}
    if photo:
        data["media"] = (io.BytesIO(jpeg_bytes()), "cover.jpg")
        return client.post(f"{BASE}/requests.{fmt}", data=data, content_type="multipart/form-data")
    return client.post(f"{BASE}/requests.{fmt}", data=data)


def test_the_schemas_formats_are_really_checked(conforms):
    checker = FormatChecker()
    assert "date-time" in checker.checkers and "uri" in checker.checkers
    good = {"service_request_id": "1", "status": "open", "service_code": "x"}
    with pytest.raises(ValidationError):
        conforms("requests.json", [{**good, "requested_datetime": "yesterday"}])
    with pytest.raises(ValidationError):
        conforms(
            "requests.json",
            [{**good, "requested_datetime": "2026-11-25T08:00:00+08:00", "media_url": "a b"}],
        )


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery_services_and_definitions(client, reference, conforms, fmt):
    discovery = client.get(f"{BASE}/discovery.{fmt}")
    assert discovery.status_code == 200
    if fmt == "json":
        endpoint = json_of(discovery)["endpoints"][0]
        assert endpoint["url"].endswith("/open311/v2")
        assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    else:
        root = xml_of(discovery)
        assert root.tag == "discovery"
        assert [f.text for f in root.find("endpoints/endpoint/formats")] == [
            "text/xml",
            "application/json",
        ]

    services = client.get(f"{BASE}/services.{fmt}")
    if fmt == "json":
        listed = json_of(services)
        conforms("services.json", listed)
        by_code = {s["service_code"]: s for s in listed}
        assert by_code["0402"]["metadata"] is True and by_code["0102"]["metadata"] is False
        assert by_code["0503"]["metadata"] is True  # no question, but a photo is required
        assert by_code["0402"]["group"] == "井盖" and "井盖" in by_code["0402"]["keywords"]
    else:
        root = xml_of(services)
        assert root.tag == "services" and {c.tag for c in root} == {"service"}
        cover = next(s for s in root if s.findtext("service_code") == "0402")
        assert cover.findtext("metadata") == "true" and cover.findtext("type") == "realtime"

    definition = client.get(f"{BASE}/services/0701.{fmt}")
    if fmt == "json":
        body = json_of(definition)
        conforms("service-definition.json", body)
        types = {a["code"]: a["datatype"] for a in body["attributes"]}
        assert types == {
            "problems": "multivaluelist",
            "site_name": "string",
            "details": "text",
            "photo": "string",
        }
        # The category needs a photo: said by an attribute clients show, not one they answer.
        photo = body["attributes"][-1]
        assert photo["variable"] is False and photo["required"] is True
        assert photo["order"] > max(a["order"] for a in body["attributes"][:-1])
        problems = body["attributes"][0]
        assert {"key": "dust", "name": "扬尘未覆盖"} in problems["values"]
    else:
        root = xml_of(definition)
        assert root.tag == "service_definition"
        first = root.find("attributes/attribute")
        assert first.findtext("datatype") == "multivaluelist"
        assert first.find("values/value/key").text == "dust"


def test_every_datatype_is_offered(client, reference, conforms):
    seen = set()
    for service in client.get(f"{BASE}/services.json").get_json():
        if service["metadata"]:
            body = client.get(f"{BASE}/services/{service['service_code']}.json").get_json()
            conforms("service-definition.json", body)
            seen |= {a["datatype"] for a in body["attributes"]}
    assert seen == {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


def test_post_follow_to_closed_and_read_the_updates(app, client, db, api_key, conforms):
    posted = post(client, api_key, photo=True)
    assert posted.status_code == 201
    answer = json_of(posted)
    number = answer[0]["service_request_id"]
    case = db.session.scalar(select(Case).where(Case.number == number))
    assert case.source == "api" and case.api_key.name == "FixMyStreet"
    assert case.attributes == {"cover_type": "sewage", "lane": "pavement"}
    assert case.reporter_email == "wang.private@example.cn" and case.reporter_name == "王伟"
    assert len(case.photos) == 1 and case.resolve_due_at is not None
    assert case.suggested_department is not None  # routed like a web report

    one = client.get(f"{BASE}/requests/{number}.json")
    conforms("requests.json", json_of(one))
    fields = one.get_json()[0]
    assert fields["status"] == "open" and fields["service_code"] == "0402"
    assert fields["media_url"].endswith(f"/photos/{case.photos[0].sha256}.jpg")
    assert fields["requested_datetime"].endswith("+08:00")
    assert fields["lat"] == 30.2741 and fields["long"] == 120.1551
    photo = client.get(fields["media_url"])
    assert photo.status_code == 200 and photo.content_type == "image/jpeg"
    photo.close()

    staff = make_user(db.session, role="dispatcher")
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    store = PhotoStore(app.config["UPLOAD_DIR"])
    now = utcnow()
    workflow.accept(db.session, case, staff, "high", now)
    workflow.route(db.session, case, staff, road, now + timedelta(minutes=1))
    workflow.reply(db.session, case, staff, "已安排人员今天更换。", now + timedelta(minutes=2))
    workflow.note(db.session, case, staff, "内部：库存不足", now + timedelta(minutes=3))
    workflow.resolve(
        db.session,
        case,
        staff,
        "已更换新井盖。",
        [jpeg_photo("green")],
        store,
        now + timedelta(minutes=4),
    )
    db.session.commit()
    middle = client.get(f"{BASE}/requests/{number}.xml")
    request = xml_of(middle).find("request")
    assert request.findtext("status") == "open"
    assert request.findtext("status_notes") == "已更换新井盖。"
    assert request.findtext("agency_responsible") == road.name_zh

    workflow.close(db.session, case, staff, "核查合格，结案。", now + timedelta(minutes=5))
    db.session.commit()
    closed = client.get(f"{BASE}/requests/{number}.json?extensions=true")
    conforms("requests.json", json_of(closed))
    fields = closed.get_json()[0]
    assert fields["status"] == "closed" and fields["status_notes"] == "核查合格，结案。"
    assert {"code": "cover_type", "values": ["sewage"]} in fields["attributes"]
    assert len(fields["media_urls"]) == 2
    notes = [n["description"] for n in fields["notes"]]
    assert "已安排人员今天更换。" in notes and "内部：库存不足" not in notes

    window = {
        "start_date": (now - timedelta(hours=1)).isoformat(),
        "end_date": (now + timedelta(hours=1)).isoformat(),
    }
    updates = json_of(client.get(f"{BASE}/servicerequestupdates.json", query_string=window))
    mine = [u for u in updates if u["service_request_id"] == number]
    assert [u["status"] for u in mine] == [
        "open",
        "investigating",
        "action_scheduled",
        "action_scheduled",
        "fixed",
        "closed",
    ]
    assert [u["external_status_code"] for u in mine][-2:] == ["resolved", "closed"]
    assert "内部：库存不足" not in {u["description"] for u in mine}
    resolved = next(u for u in mine if u["description"] == "已更换新井盖。")
    assert resolved["media_url"].endswith(f"{case.photos[1].sha256}.jpg")
    for update in mine:  # the fields they share with a request keep the request's types
        shared = {k: v for k, v in update.items() if k not in ("status", "external_status_code")}
        conforms(
            "request.json",
            {
                **shared,
                "status": "open",
                "service_code": "0402",
                "requested_datetime": update["updated_datetime"],
            },
        )
    root = xml_of(client.get(f"{BASE}/servicerequestupdates.xml", query_string=window))
    assert root.tag == "service_request_updates"
    assert [u.findtext("status") for u in root.findall("request_update")][-1] == "closed"

    token = json_of(client.get(f"{BASE}/tokens/{number}.json"))
    assert token == [{"service_request_id": number, "token": number}]
    assert xml_of(client.get(f"{BASE}/tokens/{number}.xml")).find("request/token").text == number


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_answers_in_both_formats(client, db, api_key, fmt):
    response = post(client, api_key, fmt=fmt)
    assert response.status_code == 201
    if fmt == "xml":
        root = xml_of(response)
        assert root.tag == "service_requests"
        assert root.find("request/service_request_id").text.startswith(str(utcnow().year))
    else:
        assert json_of(response)[0]["service_request_id"]


def test_reporters_never_appear(client, db, api_key):
    post(client, api_key)
    make_case(db.session, name="李秘密", phone="13700000000", email="li.secret@example.cn")
    for path in ("requests.json", "requests.xml", "requests.json?extensions=true"):
        body = client.get(f"{BASE}/{path}").get_data(as_text=True)
        for private in ("wang.private", "13912345678", "王", "李秘密", "li.secret", "13700000000"):
            assert private not in body, (path, private)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_what_the_sender_can_fix_is_refused_and_described(client, db, api_key, fmt):
    # Only the place and the service are refused: a short text, a wrong answer or a wrong
    # e-mail address used to be refused too (see test_fixmystreet_requests for what happens).
    response = post(client, api_key, fmt=fmt, lat="91", service_code="")
    assert response.status_code == 400
    found = errors_in(response, fmt)
    assert {code for code, _d in found} == {400}
    assert sorted(d.split(":")[0] for _c, d in found) == ["lat/long", "service_code"]
    assert db.session.scalar(select(Case)) is None

    unknown = post(client, api_key, fmt=fmt, service_code="9999")
    assert unknown.status_code == 404
    assert errors_in(unknown, fmt) == [(404, errors_in(unknown, fmt)[0][1])]
    assert errors_in(unknown, fmt)[0][1].startswith("service_code:")
    nowhere = errors_in(post(client, api_key, fmt=fmt, lat=None, long=None), fmt)
    assert nowhere[0][1].startswith("lat/long:")
    assert db.session.scalar(select(Case)) is None


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_keys_are_required_and_revocable(client, db, api_key, fmt):
    for key in ("", "wrong-key"):
        response = post(client, key, fmt=fmt)
        assert response.status_code == 403
        assert errors_in(response, fmt)[0][0] == 403
    row = db.session.scalar(select(ApiKey))
    row.revoked_at = utcnow()
    db.session.commit()
    assert post(client, api_key, fmt=fmt).status_code == 403


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_services_and_requests_are_404(client, reference, fmt):
    for path in ("services/9999", "requests/2000-000001", "tokens/nothing", "nothing"):
        response = client.get(f"{BASE}/{path}.{fmt}")
        assert response.status_code == 404, path
        assert errors_in(response, fmt)[0][0] == 404


def test_request_filters_as_the_spec_defines(client, db, api_key, conforms):
    old, _t = make_case(db.session, now=utcnow() - timedelta(days=120))
    light, _t = make_case(db.session, category_code="0301")
    done, _t = make_case(db.session, category_code="0101")
    done.state = "closed"
    db.session.commit()

    def numbers(**args):
        response = client.get(f"{BASE}/requests.json", query_string=args)
        assert response.status_code == 200, response.get_data(as_text=True)
        conforms("requests.json", response.get_json())
        return {r["service_request_id"] for r in response.get_json()}

    assert numbers() == {light.number, done.number}  # the last 90 days
    assert numbers(status="", service_code="") == numbers()  # empty counts as absent
    assert numbers(status="closed") == {done.number}
    assert numbers(status="open,closed") == {light.number, done.number}
    assert numbers(service_code="0301,0402") == {light.number}
    assert numbers(service_request_id=f"{old.number},{light.number}", status="closed") == {
        old.number,
        light.number,
    }
    start = (utcnow() - timedelta(days=150)).isoformat()
    assert numbers(start_date=start) == {old.number}
    assert len(numbers(page_size="1")) == 1
    assert numbers(page_size="1", page="2") | numbers(page_size="1") == {light.number, done.number}

    too_long = client.get(
        f"{BASE}/requests.xml",
        query_string={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
    )
    assert too_long.status_code == 400
    assert errors_in(too_long, "xml")[0][1].startswith("end_date:")
    wrong = client.get(
        f"{BASE}/requests.json",
        query_string={"status": "pending", "start_date": "soon", "page": "0"},
    )
    assert sorted(d.split(":")[0] for _c, d in errors_in(wrong, "json")) == [
        "page",
        "start_date",
        "status",
    ]


def test_address_is_placed_in_the_zone_it_names(client, db, api_key):
    located = post(client, api_key, lat=None, long=None, address_string="米市巷街道大关路口")
    assert located.status_code == 201, located.get_data(as_text=True)
    case = db.session.scalar(select(Case))
    assert case.zone is not None and "米市巷" in case.zone.name_zh
    lost = post(client, api_key, lat=None, long=None, address_string="火星基地一号")
    assert lost.status_code == 400
    assert errors_in(lost, "json")[0][1].startswith("address_string:")


def test_photo_limits_hold_and_a_missing_required_photo_is_flagged(app, client, db, api_key):
    broken = client.post(
        f"{BASE}/requests.json",
        data={**REPORT, "api_key": api_key, "media": (io.BytesIO(b"not an image"), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert broken.status_code == 400 and errors_in(broken, "json")[0][1].startswith("media:")
    dust = {"service_code": "0701", "attribute[cover_type]": None}
    answers = {"attribute[problems][]": ["dust", "night"], "attribute[site_name]": "大关路工地"}
    needs_photo = post(client, api_key, **dust, **answers)
    assert needs_photo.status_code == 201  # used to be refused: the photo is asked for later
    number = needs_photo.get_json()[0]["service_request_id"]
    case = db.session.scalar(select(Case).where(Case.number == number))
    assert case.flags == ["photo_missing"] and case.photos == []
    with_photo = post(client, api_key, photo=True, **dust, **answers)
    assert with_photo.status_code == 201
    number = with_photo.get_json()[0]["service_request_id"]
    case = db.session.scalar(select(Case).where(Case.number == number))
    assert case.attributes == {"problems": ["dust", "night"], "site_name": "大关路工地"}
    assert case.flags == [] and len(case.photos) == 1
