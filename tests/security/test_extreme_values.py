"""Dates at the calendar's edges, as the tester sent them: a result or a refusal, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.models import Case
from portal.models.base import EARLIEST, LATEST, as_utc, shifted
from tests.security.world import World, new_client

EDGE_URLS = [
    "/open311/v2/requests.json?start_date=0001-01-01T00:00:00Z",
    "/open311/v2/requests.json?end_date=0001-01-01T00:00:00Z",
    "/open311/v2/requests.json?start_date=0001-01-01",
    "/open311/v2/requests.json?start_date=9999-12-31T23:59:59Z",
    "/open311/v2/requests.xml?start_date=9999-12-31T23:59:59%2B14:00",
    "/open311/v2/requests.json?end_date=9999-12-31T23:59:59-12:00",
    "/open311/v2/servicerequestupdates.json?start_date=9999-12-31T23:59:59Z",
    "/open311/v2/servicerequestupdates.xml?end_date=0001-01-01",
    "/cases?since=0001-01-01",
    "/cases?until=9999-12-31",
    "/cases.csv?since=0001-01-01",
    "/cases.csv?until=9999-12-31",
    "/admin/audit?since=0001-01-01",
    "/admin/audit?until=9999-12-31",
    "/admin/audit.csv?since=0001-01-01",
    "/admin/audit.csv?until=9999-12-31",
]


@pytest.mark.parametrize("url", EDGE_URLS)
def test_a_date_at_the_calendars_edge_is_answered(app, db, world: World, url):
    response = new_client(app, world.users["admin"]).get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def test_the_edges_include_everything_and_nothing(app, db, world: World):
    client = new_client(app)
    everything = client.get("/cases.csv?since=0001-01-01&until=9999-12-31").get_data(as_text=True)
    assert world.case.number in everything
    late = client.get("/cases.csv?since=9999-12-31").get_data(as_text=True)
    assert world.case.number not in late
    api = client.get("/open311/v2/requests.json?end_date=0001-03-01T00:00:00%2B14:00")
    assert api.status_code == 200 and api.json == []


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=45, seconds=30))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12))),
        datetime.max.replace(tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
    ],
)
def test_the_utc_column_type_takes_a_moment_at_the_edge(app, db, world: World, moment):
    # The bound moment has no UTC time (or is the edge itself): the edge stands in for it.
    before = select(func.count()).select_from(Case).where(Case.created_at < moment)
    expected = 0 if moment.year == 1 else db.session.scalar(select(func.count(Case.id)))
    assert db.session.scalar(before) == expected


def test_moving_a_moment_stops_at_the_calendars_edge():
    assert shifted(datetime.max.replace(tzinfo=UTC), timedelta(days=1)) == LATEST
    assert shifted(datetime(1, 1, 1, tzinfo=UTC), -timedelta(days=90)) == EARLIEST
    assert shifted(datetime(1, 1, 1), -timedelta(days=1)) == datetime.min
    assert as_utc(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8)))) == EARLIEST
    assert as_utc(datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=-8)))) == LATEST
