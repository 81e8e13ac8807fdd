"""The exact requests FixMyStreet sends (perllib/Open311.pm): none is refused for what its
sender cannot fix; each such report is accepted and flagged for staff."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from portal.models import Case
from tests.factories import jpeg_bytes
from tests.open311.conftest import BASE, errors_in, json_of, xml_of

TITLE = "大关路工地扬尘"
LINK = "https://www.fixmystreet.com/report/812345"
PHOTO_LINK = "https://www.fixmystreet.com/photo/812345.0.full.jpeg"


def description(detail: str) -> str:
    """Return the description FixMyStreet writes outside the UK: title, detail and link."""
    return f"{TITLE}\n\n{detail}\n\n{LINK}\n"


def fms_fields(detail: str = "工地没有覆盖，风一吹满街都是灰。", **extra: str) -> list[tuple]:
    """Return the fields of a FixMyStreet report as it sends them (lat/long to 6 places)."""
    return [
        ("description", description(detail)),
        ("service_code", "0701"),
        ("first_name", "伟"),
        ("last_name", "王"),
        ("email", "wang.private@example.cn"),
        ("lat", "30.274100"),
        ("long", "120.155100"),
        *extra.items(),
    ]


def fms_post(client, key: str, fields: list[tuple], fmt: str = "xml"):
    """POST form-encoded as HTTP::Request::Common does: a list value is a repeated key."""
    body = urlencode([*fields, ("api_key", key)])
    return client.post(
        f"{BASE}/requests.{fmt}", data=body, content_type="application/x-www-form-urlencoded"
    )


def posted_case(db, response) -> Case:
    """Return the case a 201 answer (XML, as FixMyStreet reads it) names."""
    assert response.status_code == 201, response.get_data(as_text=True)
    number = xml_of(response).find("request/service_request_id").text
    return db.session.scalar(select(Case).where(Case.number == number))


def test_a_long_description_with_its_link_is_kept_whole(client, db, api_key, conforms):
    detail = "工地围挡倒了一段，泥浆流到人行道上。" * 170  # 3,060 characters
    case = posted_case(db, fms_post(client, api_key, fms_fields(detail)))
    assert len(case.description) > 3000 and case.description == description(detail).strip()
    assert case.description.endswith(LINK)
    shown = client.get(f"{BASE}/requests/{case.number}.json")
    conforms("requests.json", json_of(shown))
    assert shown.get_json()[0]["description"] == case.description
    no_text = posted_case(db, fms_post(client, api_key, fms_fields()[1:]))  # optional
    assert no_text.description == "" and no_text.flags == ["photo_missing"]


def test_markup_looking_text_is_kept_and_escaped_everywhere(client, db, api_key, login_as):
    detail = "积水 水深<b>30厘米，<script>alert(1)</script>"
    fields = fms_fields(detail, address_string="大关路<i>口")
    fields += [("attribute[site_name]", "<em>大关</em>工地"), ("deviceid", "fms-<1>\x07")]
    case = posted_case(db, fms_post(client, api_key, fields))
    assert "水深<b>30厘米" in case.description and case.reporter_device_id == "fms-<1>"
    assert case.address == "大关路<i>口" and case.attributes["site_name"] == "<em>大关</em>工地"
    assert case.flags == ["photo_missing"]  # markup alone flags nothing

    public = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "水深&lt;b&gt;30厘米" in public and "<script>alert" not in public
    xml = client.get(f"{BASE}/requests/{case.number}.xml").get_data(as_text=True)
    assert "水深&lt;b&gt;" in xml and "<b>" not in xml
    assert xml_of(client.get(f"{BASE}/requests/{case.number}.xml")).find(
        "request/description"
    ).text == (case.description)

    login_as("admin")
    staff = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert "水深&lt;b&gt;30厘米" in staff and "&lt;em&gt;大关&lt;/em&gt;工地" in staff
    assert "<script>alert" not in staff and "<em>大关" not in staff
    csv_text = client.get("/admin/export/cases.csv?state=").get_data(as_text=True)
    assert "水深<b>30厘米" in csv_text  # a CSV is plain text: nothing to escape
    xlsx = zipfile.ZipFile(io.BytesIO(client.get("/admin/export/cases.xlsx?state=").get_data()))
    cells = "".join(xlsx.read(n).decode() for n in xlsx.namelist() if n.startswith("xl/"))
    assert "&lt;b&gt;30" in cells and "<b>30" not in cells  # Chinese is written as &#NNNNN;


def test_a_missing_required_photo_and_repeated_answers(client, db, api_key, login_as):
    # A multi-value answer comes as the same attribute[...] key repeated.
    fields = [*fms_fields(), ("attribute[problems]", "dust"), ("attribute[problems]", "night")]
    case = posted_case(db, fms_post(client, api_key, fields))
    assert case.attributes == {"problems": ["dust", "night"]} and case.photos == []
    assert case.flags == ["photo_missing"] and case.state == "submitted"

    login_as("dispatcher")
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert 'data-flag="photo_missing"' in page
    flagged = client.get("/admin/?state=&flag=photo_missing").get_data(as_text=True)
    assert case.number in flagged
    other = client.get("/admin/?state=&flag=media_link").get_data(as_text=True)
    assert case.number not in other


def test_a_photo_link_from_another_host_is_kept_for_staff_not_fetched(
    client, db, api_key, login_as
):
    case = posted_case(db, fms_post(client, api_key, fms_fields(media_url=PHOTO_LINK)))
    assert case.media_links == [PHOTO_LINK] and case.photos == []
    assert case.flags == ["media_link"]  # the photo exists: not also "missing"
    login_as("dispatcher")
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert f'<a href="{PHOTO_LINK}" rel="noopener noreferrer nofollow"' in page
    assert f'src="{PHOTO_LINK}"' not in page
    odd = posted_case(db, fms_post(client, api_key, fms_fields(media_url="javascript:alert(1)")))
    page = client.get(f"/admin/cases/{odd.number}").get_data(as_text=True)
    assert 'href="javascript:' not in page and "<code>javascript:alert(1)</code>" in page
    # What FixMyStreet uploads itself (always_upload_photos) comes as photo1, photo2 ...
    uploaded = client.post(
        f"{BASE}/requests.xml",
        data={
            **dict(fms_fields()),
            "api_key": api_key,
            "photo1": (io.BytesIO(jpeg_bytes()), "812345.0.full.jpeg"),
        },
        content_type="multipart/form-data",
    )
    assert len(posted_case(db, uploaded).photos) == 1


def test_answers_failing_their_type_are_kept_as_text(client, db, api_key, login_as):
    fields = [
        ("description", description("路灯一排都不亮了。")),
        ("service_code", "0301"),
        ("lat", "30.274100"),
        ("long", "120.155100"),
        ("attribute[lamps_out]", "大概五六盏"),  # FixMyStreet shows number questions as text
        ("attribute[pole_number]", "A-17"),
    ]
    case = posted_case(db, fms_post(client, api_key, fields))
    assert case.attributes == {"lamps_out": "大概五六盏", "pole_number": "A-17"}
    assert case.flags == ["answer_as_text"]
    login_as("dispatcher")
    page = client.get(f"/admin/cases/{case.number}").get_data(as_text=True)
    assert 'data-flag="answer_as_text"' in page and "大概五六盏" in page

    waterlogged = [
        ("description", description("桥洞积水。")),
        ("service_code", "0204"),
        ("lat", "30.274100"),
        ("long", "120.155100"),
        ("attribute[water_depth]", "齐膝"),  # not one of the listed keys
        ("attribute[since]", "昨晚"),
    ]
    case = posted_case(db, fms_post(client, api_key, waterlogged))
    assert case.attributes == {"water_depth": "齐膝", "since": "昨晚"}
    assert case.flags == ["answer_as_text"]
    unanswered = posted_case(db, fms_post(client, api_key, waterlogged[:4]))
    assert unanswered.flags == ["answer_missing"]


def test_contact_details_that_fail_their_check_are_flagged(client, db, api_key):
    fields = [*fms_fields(phone="+44 (0)20 7946 0000"), ("attribute[problems]", "dust")]
    fields = [(k, "not-an-address" if k == "email" else v) for k, v in fields]
    case = posted_case(db, fms_post(client, api_key, fields))
    assert case.reporter_phone == "+44 (0)20 7946 0000" and case.reporter_email == ""
    assert set(case.flags) == {"photo_missing", "contact_unchecked"}


@pytest.mark.parametrize(
    "moment", ["2026-11-29T08:30:00Z", "2026-11-29T16:30:00+08:00", "2026-11-29T16:30:00"]
)
def test_a_requested_datetime_in_any_form_is_accepted(client, db, api_key, moment):
    case = posted_case(db, fms_post(client, api_key, fms_fields(requested_datetime=moment)))
    assert case.source == "api"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_service_is_a_404_in_the_spec_format(client, db, api_key, fmt):
    fields = [(k, "9999" if k == "service_code" else v) for k, v in fms_fields()]
    response = fms_post(client, api_key, fields, fmt)
    assert response.status_code == 404
    [(code, text)] = errors_in(response, fmt)
    assert code == 404 and text.startswith("service_code:")
    assert db.session.scalar(select(Case)) is None


def test_what_the_sender_can_fix_is_still_refused(client, db, api_key):
    nowhere = [(k, v) for k, v in fms_fields() if k not in ("lat", "long")]
    assert fms_post(client, api_key, nowhere).status_code == 400
    notpinpointed = [*nowhere, ("address_id", "#NOTPINPOINTED#")]
    assert fms_post(client, api_key, notpinpointed).status_code == 400
    assert fms_post(client, "wrong-key", fms_fields()).status_code == 403
    assert db.session.scalar(select(Case)) is None


def test_address_and_device_id_follow_the_plain_text_rule(client, db, api_key):
    address = "杭州市拱墅区\x08大关路\x1b" + "口" * 300  # NUL is refused before any view
    fields = fms_fields(address_string=address, device_id="\x01" + "d" * 150)
    case = posted_case(db, fms_post(client, api_key, fields))
    assert case.address == ("杭州市拱墅区大关路" + "口" * 300)[:255]
    assert case.reporter_device_id == "d" * 100
    public = client.get(f"{BASE}/requests/{case.number}.json").get_data(as_text=True)
    assert "d" * 100 not in public  # the device is the sender's, never shown


class TestJurisdictions:
    @pytest.fixture
    def app_config(self):
        return {"OPEN311_JURISDICTION": "hangzhou-gongshu"}

    @pytest.mark.parametrize("fmt", ["json", "xml"])
    def test_the_configured_one_is_optional_and_others_are_404(self, app, client, db, api_key, fmt):
        assert client.get(f"{BASE}/services.{fmt}").status_code == 200
        ours = {"jurisdiction_id": "hangzhou-gongshu"}
        assert client.get(f"{BASE}/services.{fmt}", query_string=ours).status_code == 200
        other = client.get(f"{BASE}/requests.{fmt}", query_string={"jurisdiction_id": "x"})
        assert other.status_code == 404
        assert errors_in(other, fmt)[0][1].startswith("jurisdiction_id:")
        fields = [*fms_fields(), ("attribute[problems]", "dust")]
        posted = fms_post(client, api_key, [*fields, ("jurisdiction_id", "hangzhou-gongshu")])
        assert posted.status_code == 201
        wrong = fms_post(client, api_key, [*fields, ("jurisdiction_id", "bristol")], fmt)
        assert wrong.status_code == 404 and db.session.query(Case).count() == 1

        app.config["OPEN311_JURISDICTION"] = "hangzhou-gongshu, hangzhou-xihu"
        missing = client.get(f"{BASE}/services.{fmt}")
        assert missing.status_code == 400
        assert errors_in(missing, fmt)[0][1].startswith("jurisdiction_id:")
        xihu = {"jurisdiction_id": "hangzhou-xihu"}
        assert client.get(f"{BASE}/services.{fmt}", query_string=xihu).status_code == 200


def test_without_a_configured_jurisdiction_none_may_be_named(client, reference):
    assert client.get(f"{BASE}/services.json?jurisdiction_id=").status_code == 200
    assert client.get(f"{BASE}/services.json?jurisdiction_id=any").status_code == 404
