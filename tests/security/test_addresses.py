"""Absolute links name the site's own address (PUBLIC_URL), never the Host a client sent; in
production a request for an unknown host is refused before anything answers it."""

from __future__ import annotations

import io
import zipfile

import pytest

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
