"""Zones, distances and geocoding (against a geocoder served on loopback)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from portal.services import geo


class FakeNominatim(BaseHTTPRequestHandler):
    """Answer /search like Nominatim does, for one known address."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
        found = [
            {
                "lat": "30.2741",
                "lon": "120.1551",
                "display_name": query,
                "boundingbox": ["30.27", "30.28", "120.15", "120.16"],
            }
        ]
        body = json.dumps(found if "湖墅南路" in query else []).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def geocoder_domain():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNominatim)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_geocoding_uses_the_configured_service(app, geocoder_domain):
    app.config.update(GEOCODER="nominatim", GEOCODER_DOMAIN=geocoder_domain, GEOCODER_SCHEME="http")
    assert geo.geocode("湖墅南路128号") == pytest.approx((30.2741, 120.1551))
    assert geo.geocode("nowhere at all") is None


def test_no_geocoder_configured_means_no_position(app):
    app.config["GEOCODER"] = ""
    assert geo.geocode("湖墅南路128号") is None


def test_an_unreachable_geocoder_is_not_an_error(app):
    app.config.update(
        GEOCODER="nominatim",
        GEOCODER_DOMAIN="127.0.0.1:9",
        GEOCODER_SCHEME="http",
        GEOCODER_TIMEOUT=1,
    )
    assert geo.geocode("湖墅南路128号") is None


def test_the_most_specific_zone_wins(db, reference):
    zone = geo.zone_for_point(db.session, 30.2741, 120.1551)
    assert zone.level == "grid" and zone.parent.level == "street"
    assert geo.zone_for_point(db.session, 39.9, 116.4) is None


def test_positions_and_distances():
    assert geo.is_valid_position(30, 120)
    assert not geo.is_valid_position(91, 0)
    assert not geo.is_valid_position(float("nan"), 0)
    assert geo.distance_m((30.2741, 120.1551), (30.2750, 120.1551)) == pytest.approx(99.8, abs=1)
