"""What the public sees of a moderated case: the note on the page, in Open311, in the CSV and
in the map's feed; hidden photos and cases gone; the report form's hint about others' data."""

import json

import pytest
from sqlalchemy import select

from portal.models import Case, CaseEvent, utcnow
from portal.services import moderation
from portal.services.photos import PhotoStore
from tests.factories import make_case, make_user
from tests.portal.test_report import form_data

NOTE_ZH = "部分内容已隐去"
SECRET = "13800138000"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def store(app):
    return PhotoStore(app.config["UPLOAD_DIR"])


@pytest.fixture
def redacted(db, reference, store):
    case, _ = make_case(
        db.session, store, description=f"邻居电话{SECRET}，车停在盲道上。", photos=2
    )
    reply = CaseEvent(case=case, kind="public_reply", body=f"联系人{SECRET}", public=True)
    db.session.add(reply)
    db.session.flush()
    dispatcher = make_user(db.session, "dispatcher")
    moderation.redact(db.session, case, dispatcher, [SECRET], "邻居隐私", utcnow())
    moderation.redact(db.session, case, dispatcher, [SECRET], "邻居隐私", utcnow(), event=reply)
    moderation.hide_photo(db.session, case, dispatcher, case.photos[0], "人脸", utcnow())
    db.session.commit()
    return case


def test_the_public_page_shows_the_note_and_not_the_number(client, redacted):
    page = client.get(f"/cases/{redacted.number}").get_data(as_text=True)
    assert SECRET not in page and NOTE_ZH in page
    assert redacted.photos[0].sha256 not in page and redacted.photos[1].sha256 in page
    english = client.get(f"/cases/{redacted.number}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "Part of the content has been hidden" in english


def test_a_hidden_photo_is_not_served(client, redacted):
    assert client.get(f"/photos/{redacted.photos[0].sha256}.jpg").status_code == 404
    shown = client.get(f"/photos/{redacted.photos[1].sha256}.thumb.jpg")
    shown.close()
    assert shown.status_code == 200


def test_open311_says_so(client, redacted):
    one = client.get(f"/open311/v2/requests/{redacted.number}.json?extensions=true").get_json()[0]
    assert SECRET not in json.dumps(one, ensure_ascii=False)
    assert NOTE_ZH in one["description"] and NOTE_ZH in one["status_notes"]
    assert all(redacted.photos[0].sha256 not in url for url in one["media_urls"])
    updates = client.get("/open311/v2/servicerequestupdates.json").get_data(as_text=True)
    assert SECRET not in updates


def test_the_csv_and_the_feeds_say_so(client, redacted):
    csv = client.get("/cases.csv").get_data().decode("utf-8")
    line = next(row for row in csv.splitlines() if redacted.number in row)
    assert SECRET not in csv and NOTE_ZH in line
    feed = client.get("/api/v1/cases.geojson?bbox=120.13,30.26,120.18,30.29").get_json()
    (feature,) = [f for f in feed["features"] if f["properties"]["number"] == redacted.number]
    assert feature["properties"]["moderated"] is True


def test_a_hidden_case_is_gone_from_the_public(client, db, reference):
    case, _ = make_case(db.session)
    moderation.hide_case(db.session, case, make_user(db.session, "admin"), "隐私", utcnow())
    db.session.commit()
    assert client.get(f"/cases/{case.number}").status_code == 404
    assert client.get(f"/open311/v2/requests/{case.number}.json").status_code == 404
    assert case.number not in client.get("/cases.csv").get_data().decode("utf-8")


def test_the_report_form_warns_once_about_others_details(client, db, reference):
    data = form_data(db, description=f"隔壁电话{SECRET}，天天占道。")
    first = client.post("/report/new", data=data)
    assert first.status_code == 422
    page = first.get_data(as_text=True)
    assert "请不要" in page or "do not post" in page
    assert 'name="personal_data_seen" type="hidden" value="1"' in page
    assert db.session.scalar(select(Case.id)) is None
    again = client.post("/report/new", data={**data, "personal_data_seen": "1"})
    assert again.status_code == 303
    case = db.session.scalar(select(Case))
    assert "personal_data" in case.flags  # flagged for staff


def test_a_plain_report_is_not_held_back(client, db, reference):
    assert client.post("/report/new", data=form_data(db)).status_code == 303
