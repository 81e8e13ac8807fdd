"""Two app nodes: two gunicorns, each with its own instance folder and no shared disk, on the
same PostgreSQL, Redis and S3 store (SeaweedFS). What one node does, the other sees."""

from __future__ import annotations

import re
import time

import pytest
import requests

from portal.services import storage
from tests.factories import category
from tests.load.harness import (
    CSRF,
    DATABASE_URL,
    REDIS_URL,
    Gunicorn,
    Resident,
    clear_limits,
    photo,
    require_services,
)

pytestmark = pytest.mark.load

ME_TOO = re.compile(r"(\d+) said “me too”")
PHOTO_LINK = re.compile(r"/photos/([0-9a-f]{64})\.(?:thumb\.)?jpg")


@pytest.fixture
def nodes(app, db, reference, tmp_path, s3_url):
    """Start nodes A and B: same database, Redis, S3 bucket and secret key; apart from that,
    nothing shared (each its own instance folder and upload folder, which stays unused)."""
    require_services()
    clear_limits()
    store = storage.from_url(s3_url)
    store.check()
    store.close()
    started = []
    for name in ("a", "b"):
        folder = tmp_path / f"node-{name}"
        node = Gunicorn(
            {
                "DATABASE_URL": DATABASE_URL,
                "REDIS_URL": REDIS_URL,
                "SECRET_KEY": "two-nodes-secret",
                "STORAGE_URL": s3_url,
                "INSTANCE_PATH": str(folder),
                "UPLOAD_DIR": str(folder / "uploads"),
                "TRUSTED_PROXIES": "1",
                "RATELIMIT_ENABLED": "1",
                "RATELIMIT_REPORT": "3 per hour",
                "GEOCODER": "",
            },
            tmp_path / f"gunicorn-{name}.log",
            workers=2,
            threads=4,
        )
        node.folder = folder
        node.start()
        started.append(node)
    yield started
    for node in started:
        node.stop()


def get(url: str, **options) -> requests.Response:
    """GET without a session (a visitor with no cookie)."""
    return requests.get(url, timeout=30, **options)


def headers(address: str, language: str = "zh-CN") -> dict[str, str]:
    return {"X-Forwarded-For": address, "Accept-Language": language}


def test_two_nodes_act_as_one_portal(db, nodes, figures):
    a, b = nodes
    code = category(db.session).code
    resident = requests.Session()
    resident.headers.update(headers("10.9.0.1"))
    form = resident.get(f"{a.base}/report/new")
    fields = {
        "csrf_token": CSRF.search(form.text).group(1),
        "category": code,
        "lat": "30.281000",
        "lng": "120.171000",
        "description": "两个节点的测试：路灯不亮。",
    }
    sent = resident.post(
        f"{a.base}/report/new",
        data=fields,
        files=[("photos", ("p.jpg", photo(7001), "image/jpeg"))],
        allow_redirects=False,
    )
    assert sent.status_code == 303, sent.text[:500]
    location = sent.headers["Location"]
    number = location.rstrip("/").rsplit("/", 1)[-1]

    # The session A started works on B: B shows this browser its case's private link.
    done_on_b = resident.get(f"{b.base}{location}")
    assert done_on_b.status_code == 200 and "/track/" in done_on_b.text
    stranger = get(f"{b.base}{location}", headers=headers("10.9.0.2"))
    assert "/track/" not in stranger.text

    # The report made through A shows through B, with its photos (from the shared store).
    page = get(f"{b.base}/cases/{number}", headers=headers("10.9.0.3"))
    assert page.status_code == 200
    (sha,) = set(PHOTO_LINK.findall(page.text))
    for suffix in (".jpg", ".thumb.jpg"):
        served = get(f"{b.base}/photos/{sha}{suffix}")
        assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    for node in nodes:  # nothing on either node's disk
        uploads = node.folder / "uploads"
        assert not uploads.exists() or not any(p.is_file() for p in uploads.rglob("*"))

    # A change made on B shows at once on the case page A keeps rendered.
    english = headers("10.9.0.4", "en")
    kept = [get(f"{a.base}/cases/{number}", headers=english) for _ in range(3)]
    before = int(ME_TOO.search(kept[-1].text).group(1))
    neighbour = requests.Session()
    neighbour.headers.update(headers("10.9.0.5", "en"))
    on_b = neighbour.get(f"{b.base}/cases/{number}")
    followed = neighbour.post(
        f"{b.base}/cases/{number}/follow",
        data={"csrf_token": CSRF.search(on_b.text).group(1)},
        allow_redirects=False,
    )
    assert followed.status_code == 303
    after = get(f"{a.base}/cases/{number}", headers=english)
    assert int(ME_TOO.search(after.text).group(1)) == before + 1

    # The report limit (3 an hour per address) counts reports through both nodes together.
    outcomes = []
    for n, node in enumerate([b, a, b]):
        other = Resident(node.base, 900 + n, code, [photo(8000 + n)], address="10.9.0.1")
        outcomes.append(other.report().kind)
    assert outcomes == ["created", "created", "429"]
    figures(reports_through_a_then_b_then_a_then_b=["created", *outcomes])


def test_one_node_of_two_down_the_other_still_serves(db, nodes):
    a, b = nodes
    code = category(db.session).code
    a.stop()
    time.sleep(0.5)
    outcome = Resident(b.base, 950, code, [photo(9500)], address="10.9.1.1").report()
    assert outcome.kind == "created" and outcome.shown == outcome.number
