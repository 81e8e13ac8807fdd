"""Open311 refuses a place outside the service area with a 400 in the spec's format."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.models import Case
from tests.open311.conftest import errors_in
from tests.open311.test_api import post
from tests.services.test_service_area import NEW_YORK, OUTSKIRTS


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_place_in_new_york_is_refused(client, db, api_key, fmt):
    response = post(client, api_key, fmt=fmt, lat=str(NEW_YORK[0]), long=str(NEW_YORK[1]))
    assert response.status_code == 400
    [(code, description)] = errors_in(response, fmt)
    assert code == 400
    assert description.startswith("lat/long: ") and "服务范围" in description
    assert db.session.scalar(select(Case)) is None


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_outskirts_name_the_nearest_district(client, db, api_key, fmt):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = post(client, api_key, fmt=fmt, lat=str(OUTSKIRTS[0]), long=str(OUTSKIRTS[1]))
    assert response.status_code == 400
    [(_code, description)] = errors_in(response, fmt)
    assert "the nearest district is Gongshu Demo District" in description
    assert db.session.scalar(select(Case)) is None


def test_a_place_inside_is_still_accepted(client, db, api_key):
    assert post(client, api_key).status_code == 201
