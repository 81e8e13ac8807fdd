"""Absolute links name the site's own address (PUBLIC_URL), never the Host a client sent; in
production a request for an unknown host is refused before anything answers it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from flask import request, request_started
from sqlalchemy import func, select

from portal.config import Settings
from portal.models import Case, utcnow
from portal.public import page_cache
from portal.services import demo
from tests.conftest import _db, empty_tables, make_app
from tests.factories import make_case
from tests.security.world import World, get_routes, new_client

SITE = "https://gongcheng.example.gov.cn"
FORGED = "evil-forged.example"


@pytest.fixture
def app_config():
    return {"PUBLIC_URL": SITE, "WTF_CSRF_ENABLED": False}


def text_of(response) -> str:
    """Return every text an answer carries: headers, body, and each file of a workbook."""
    data = response.get_data()
    response.close()
    texts = [str(response.headers), data.decode(errors="replace")]
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as workbook:
            texts += [workbook.read(name).decode(errors="replace") for name in workbook.namelist()]
    return "\n".join(texts)


def test_no_answer_follows_a_forged_host(app, db, world: World):
    clients = {
        actor: new_client(app, world.users.get(actor))
        for actor in ("anonymous", "admin", "supervisor")
    }
    leaks, walked = [], 0
    for actor, endpoint, path in get_routes(app, world):
        for suffix in ("", "?extensions=true") if endpoint.startswith("open311.") else ("",):
            response = clients[actor].get(path + suffix, headers={"Host": FORGED})
            walked += 1
            assert response.status_code < 500, path
            if FORGED in text_of(response):
                leaks.append(f"{endpoint} {path}{suffix}")
    assert not leaks, "answers naming the forged host:\n" + "\n".join(leaks)
    assert walked > 80


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/discovery.json",
        "/open311/v2/discovery.xml",
        "/notices.atom",
        "/projects/{project}/notices.atom",
        "/open311/v2/requests.json?extensions=true",
        "/api/v1/cases.geojson?bbox=120,30,121,31",
        "/cases.csv",
    ],
)
def test_absolute_links_name_the_public_url(app, db, world: World, path):
    client = new_client(app)
    response = client.get(path.format(project=world.project.code), headers={"Host": FORGED})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert SITE + "/" in body and FORGED not in body


def test_private_links_shown_after_sending_name_the_public_url(app, db, world: World):
    client = new_client(app)
    sent = client.post(
        "/suggestions/new",
        data={"title": "增加路灯", "body": "教场路夜里太暗。", "email": "", "phone": ""},
        headers={"Host": FORGED},
    )
    assert sent.status_code == 303
    page = client.get(sent.headers["Location"], headers={"Host": FORGED})
    body = page.get_data(as_text=True)
    assert f"{SITE}/suggestions/track/" in body and FORGED not in body


# Unknown hosts: refused in production, in both languages, before any step or kept page.

HOST = "gongcheng.example.gov.cn"


def test_production_trusts_the_host_of_public_url_and_those_listed(tmp_path):
    base = {"PORTAL_ENV": "production", "SECRET_KEY": "x" * 40, "PUBLIC_URL": SITE + "/"}
    assert Settings(base).load(str(tmp_path))["TRUSTED_HOSTS"] == [HOST]
    listed = Settings(base | {"TRUSTED_HOSTS": "10.0.0.5, .example.cn"})
    assert listed.load(str(tmp_path))["TRUSTED_HOSTS"] == [HOST, "10.0.0.5", ".example.cn"]
    # Development (make run, the tests) answers 127.0.0.1 and localhost, unless told otherwise.
    assert Settings({}).load(str(tmp_path))["TRUSTED_HOSTS"] is None
    chosen = Settings({"TRUSTED_HOSTS": "localhost"}).load(str(tmp_path))["TRUSTED_HOSTS"]
    assert chosen == ["127.0.0.1", "localhost"]


@pytest.fixture
def guarded(monkeypatch, migrated, tmp_path):
    """Return the portal as production configures it, with kept pages on."""
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-of-some-length")
    monkeypatch.setenv("PUBLIC_URL", SITE)
    application = make_app(migrated, tmp_path / "uploads", PAGE_CACHE_MB=1)
    assert application.config["TRUSTED_HOSTS"] == [HOST]
    with application.app_context():
        demo.load_reference(_db.session)
        _db.session.commit()
        yield application
        _db.session.rollback()
        empty_tables()
        _db.session.remove()
        _db.engine.dispose()
        application.extensions[page_cache.LAYER].engine.dispose()


def refused_in_both_languages(response) -> str:
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    if response.is_json:
        body = json.dumps(response.json, ensure_ascii=False)
    assert "未知的网站地址" in body and "Unknown address" in body and SITE in body
    assert FORGED not in body
    return body


def test_an_unknown_host_is_refused_in_both_languages(guarded):
    client = guarded.test_client()
    for path in ("/", "/cases", "/login", "/admin/", "/no/such/page"):
        page = refused_in_both_languages(client.get(path, headers={"Host": FORGED}))
        assert 'lang="en"' in page and "Content-Security-Policy" in str(
            client.get(path, headers={"Host": FORGED}).headers
        )
    api = client.get("/open311/v2/services.json", headers={"Host": FORGED})
    refused_in_both_languages(api)
    assert api.json[0]["code"] == 400
    kpi = client.get("/api/v1/kpi", headers={"Host": FORGED})
    refused_in_both_languages(kpi)
    assert kpi.json["error"]["code"] == 400
    before = _db.session.scalar(select(func.count(Case.id)))
    sent = client.post("/report/new", data={"description": "x"}, headers={"Host": FORGED})
    refused_in_both_languages(sent)
    assert _db.session.scalar(select(func.count(Case.id))) == before
    for host in (HOST, f"{HOST}:443"):
        assert client.get("/", headers={"Host": host}, base_url=SITE).status_code == 200


def test_a_kept_page_is_not_served_to_an_unknown_host(guarded):
    case, _ = make_case(_db.session)
    case.state, case.closed_at = "closed", utcnow()
    _db.session.commit()
    path = f"/cases/{case.number}"
    dispatched = []

    def record(sender, **extra):
        dispatched.append(request.path)

    request_started.connect(record, guarded)
    assert guarded.test_client().get(path, base_url=SITE).status_code == 200
    assert guarded.test_client().get(path, base_url=SITE).status_code == 200
    assert dispatched == [path]  # the second came from the kept pages
    refused_in_both_languages(guarded.test_client().get(path, headers={"Host": FORGED}))
    assert dispatched == [path, path]  # Flask refused it: the kept page was not served
