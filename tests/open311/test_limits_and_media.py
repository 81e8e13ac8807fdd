"""Photos by media_url from allowed hosts only; rate limits answered in the API's format."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from portal.models import Case
from tests.factories import jpeg_bytes
from tests.open311.conftest import BASE, errors_in, json_of
from tests.open311.test_api import REPORT

PHOTO = jpeg_bytes(320, 240, "purple")


class PhotoHandler(BaseHTTPRequestHandler):
    fetched = 0

    def do_GET(self):
        PhotoHandler.fetched += 1
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(PHOTO)))
        self.end_headers()
        self.wfile.write(PHOTO)

    def log_message(self, *args):
        pass


@pytest.fixture
def photo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PhotoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_media_url_is_fetched_only_from_allowed_hosts(app, client, db, api_key, photo_server):
    PhotoHandler.fetched = 0
    url = f"http://{photo_server}/p.jpg"
    data = {**REPORT, "api_key": api_key, "media_url": url}
    kept = client.post(f"{BASE}/requests.json", data=data)
    assert kept.status_code == 201  # used to be refused: kept as a link for staff instead
    case = db.session.scalar(select(Case))
    assert case.media_links == [url] and case.flags == ["media_link"] and case.photos == []
    assert PhotoHandler.fetched == 0
    app.config["OPEN311_MEDIA_HOSTS"] = photo_server
    accepted = client.post(f"{BASE}/requests.json", data=data)
    assert accepted.status_code == 201
    number = accepted.get_json()[0]["service_request_id"]
    case = db.session.scalar(select(Case).where(Case.number == number))
    assert len(case.photos) == 1 and case.photos[0].width == 320
    assert case.media_links == [] and case.flags == [] and PhotoHandler.fetched == 1


class TestRateLimits:
    @pytest.fixture
    def app_config(self):
        return {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_OPEN311_KEY": "2 per minute",
            "RATELIMIT_OPEN311": "3 per minute",
        }

    @pytest.mark.parametrize("fmt", ["json", "xml"])
    def test_posts_are_limited_per_key(self, client, api_key, fmt):
        data = {**REPORT, "api_key": api_key}
        assert [client.post(f"{BASE}/requests.json", data=data).status_code for _ in range(2)] == [
            201,
            201,
        ]
        limited = client.post(f"{BASE}/requests.{fmt}", data=data)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert errors_in(limited, fmt)[0][0] == 429

    def test_every_answer_is_limited_per_address(self, client, reference):
        statuses = [client.get(f"{BASE}/services.json").status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = client.get(f"{BASE}/requests.xml")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert errors_in(limited, "xml") == [(429, errors_in(limited, "xml")[0][1])]
        assert json_of(client.get(f"{BASE}/discovery.json"))[0]["code"] == 429
