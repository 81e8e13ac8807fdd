"""Answers cut at their page size say so (Link rel="next"); public reads allow any origin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from portal.models import Case, CaseEvent, Category, utcnow
from tests.open311.conftest import BASE, json_of
from tests.open311.test_api import REPORT

MANY = 1003


def many_cases(db, count: int = MANY) -> list[int]:
    """Insert public cases in one statement (the ORM one by one would take a minute)."""
    category = db.session.scalar(select(Category).where(Category.code == "0101"))
    now = utcnow()
    rows = [
        {
            "number": f"{now.year}-9{n:05d}",
            "category_id": category.id,
            "lat": 30.2741,
            "lng": 120.1551,
            "description": f"第{n}个坑",
            "tracking_token_hash": f"{n:064d}",
            "created_at": now - timedelta(minutes=n),
            "updated_at": now - timedelta(minutes=n),
        }
        for n in range(count)
    ]
    db.session.execute(insert(Case), rows)
    db.session.commit()
    return list(db.session.scalars(select(Case.id).order_by(Case.id)))


def next_link(response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    assert link.endswith('>; rel="next"')
    return link[1 : link.index(">")]


def test_requests_page_past_1000_and_say_when_cut(app, client, db, reference, conforms):
    many_cases(db)
    app.config["PUBLIC_URL"] = "https://portal.example.gov.cn"
    first = client.get(f"{BASE}/requests.json?status=open", headers={"Host": "evil.example"})
    assert len(json_of(first)) == 1000
    url = next_link(first)
    assert url == "https://portal.example.gov.cn/open311/v2/requests.json?status=open&page=2"
    second = client.get(url.removeprefix("https://portal.example.gov.cn"))
    conforms("requests.json", json_of(second))
    assert len(second.get_json()) == MANY - 1000 and next_link(second) is None
    seen = {r["service_request_id"] for r in first.get_json() + second.get_json()}
    assert len(seen) == MANY
    small = client.get(f"{BASE}/requests.xml?page_size=2&page=3")
    assert next_link(small).endswith("/requests.xml?page_size=2&page=4")
    assert next_link(client.get(f"{BASE}/requests.json?page_size=1000&page=2")) is None


def test_updates_page_past_1000_and_say_when_cut(app, client, db, reference):
    case_ids = many_cases(db, 4)
    now = utcnow()
    events = [
        {
            "case_id": case_ids[n % 4],
            "kind": "public_reply",
            "public": True,
            "body": f"答复{n}",
            "data": {},
            "created_at": now - timedelta(seconds=n),
        }
        for n in range(MANY)
    ]
    db.session.execute(insert(CaseEvent), events)
    db.session.commit()
    first = client.get(f"{BASE}/servicerequestupdates.json")
    assert len(json_of(first)) == 1000
    url = next_link(first)
    assert url.endswith("/open311/v2/servicerequestupdates.json?page=2")
    second = client.get(url.removeprefix(app.config["PUBLIC_URL"])).get_json()
    assert len(second) == MANY - 1000
    ids = {u["update_id"] for u in first.get_json() + second}
    assert len(ids) == MANY
    assert client.get(f"{BASE}/servicerequestupdates.json?page_size=0").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/discovery.json",
        f"{BASE}/services.xml",
        f"{BASE}/services/0402.json",
        f"{BASE}/requests.json",
        f"{BASE}/servicerequestupdates.xml",
        f"{BASE}/openapi.json",
        f"{BASE}/requests/2000-000001.json",  # a 404 is readable too
        "/api/v1/cases.geojson?bbox=120.1,30.2,120.2,30.3",
        "/api/v1/kpi",
    ],
)
def test_public_reads_allow_any_origin_without_credentials(client, reference, path):
    got = client.get(path, headers={"Origin": "https://map.example.org"})
    assert got.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in got.headers
    assert client.head(path).headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options(path, headers={"Origin": "https://map.example.org"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"


def test_posts_and_other_pages_allow_no_origin(client, db, api_key):
    origin = {"Origin": "https://map.example.org"}
    posted = client.post(
        f"{BASE}/requests.json", data={**REPORT, "api_key": api_key}, headers=origin
    )
    assert posted.status_code == 201
    assert "Access-Control-Allow-Origin" not in posted.headers
    refused = client.post(f"{BASE}/requests.json", data={"api_key": "wrong"})
    assert "Access-Control-Allow-Origin" not in refused.headers
    for path in ("/", "/cases", "/admin/"):
        assert "Access-Control-Allow-Origin" not in client.get(path).headers, path
