"""The report form refuses a place outside the service area, and keeps what was typed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.models import Case
from tests.portal.test_report import form_data
from tests.services.test_service_area import NEW_YORK, OUTSKIRTS


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def test_a_place_in_new_york_is_refused_and_the_form_kept(client, db, reference):
    data = form_data(db, lat=str(NEW_YORK[0]), lng=str(NEW_YORK[1]))
    response = client.post("/report/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "该位置不在本平台的服务范围内" in page
    assert data["description"] in page and data["address"] in page
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_place_just_outside_names_the_nearest_district(client, db, reference):
    data = form_data(db, lat=str(OUTSKIRTS[0]), lng=str(OUTSKIRTS[1]))
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.post("/report/new", data=data).get_data(as_text=True)
    assert "the nearest district is Gongshu Demo District" in page
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_place_inside_is_accepted(client, db, reference):
    response = client.post("/report/new", data=form_data(db))
    assert response.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Case)) == 1
