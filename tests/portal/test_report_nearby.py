"""The server checks for open cases nearby again at submit time: it offers them unless the
resident was shown and went past that same offer; a case not in the declined set is offered
again, and a forged record counts for nothing."""

import re

import pytest
from sqlalchemy import func, select

from portal.models import Case
from portal.services import intake
from tests.factories import make_case
from tests.portal.test_report import form_data


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def declined(page: str) -> str:
    return re.search(r'name="nearby_declined" type="hidden" value="([^"]*)"', page).group(1)


def near(db, code, **fields):
    return form_data(db, category=code, lat="30.27412", lng="120.15511", **fields)


def test_the_offer_sits_next_to_the_category_with_thumbnails(app, client, db, reference):
    from portal.services.photos import PhotoStore

    existing, _ = make_case(db.session, PhotoStore(app.config["UPLOAD_DIR"]), photos=1)
    page = client.post("/report/new", data=near(db, existing.category.code)).get_data(as_text=True)
    offer = page.index('id="nearby"')
    assert page.index('id="category"') < offer < page.index('id="description"')
    assert f"/photos/{existing.photos[0].sha256}.thumb.jpg" in page
    assert 'form="follow-form"' in page and f"/cases/{existing.number}/follow" in page


def test_a_new_nearby_case_is_offered_again(client, db, reference):
    first_case, _ = make_case(db.session)
    data = near(db, first_case.category.code)
    page = client.post("/report/new", data=data).get_data(as_text=True)
    assert first_case.number in page
    went_past = declined(page)
    second_case, _ = make_case(db.session, description="井盖旁边的路面也塌了一块。")
    again = client.post("/report/new", data={**data, "nearby_declined": went_past})
    page = again.get_data(as_text=True)
    assert again.status_code == 422 and second_case.number in page
    assert intake.declined_offer(declined(page)) == {first_case.id, second_case.id}
    accepted = client.post("/report/new", data={**data, "nearby_declined": declined(page)})
    assert accepted.status_code == 303 and count(db, Case) == 3


def test_a_forged_or_empty_record_does_not_skip_the_offer(client, db, reference):
    existing, _ = make_case(db.session)
    data = near(db, existing.category.code)
    for forged in ("", "1", f"[{existing.id}]", "WzFd.forged.sig"):
        answer = client.post("/report/new", data={**data, "nearby_declined": forged})
        assert answer.status_code == 422 and existing.number in answer.get_data(as_text=True)
    assert count(db, Case) == 1


def test_the_offer_seen_while_typing_counts_as_seen(client, db, reference):
    existing, _ = make_case(db.session)
    shown = client.get(
        "/api/v1/cases/nearby",
        query_string={"lat": "30.27412", "lng": "120.15511", "category": existing.category.code},
    ).get_json()
    assert [c["number"] for c in shown["cases"]] == [existing.number]
    assert "thumb_url" in shown["cases"][0]
    data = near(db, existing.category.code, nearby_declined=shown["offer"])
    assert client.post("/report/new", data=data).status_code == 303
