"""A real Open311 client from PyPI (georeport) against the portal served over HTTP."""

from __future__ import annotations

import threading

import pytest
import requests
from georeport import GeoReport
from werkzeug.serving import make_server

from tests.factories import jpeg_bytes
from tests.open311.test_api import REPORT


@pytest.fixture
def live_base(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # The links the API gives name the site's own address, as a real deployment's would.
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/open311/v2/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_georeport_lists_posts_and_follows(live_base, api_key, conforms, output_format):
    client = GeoReport(live_base, api_key=api_key, output_format=output_format)
    services = client.get_service_list()
    assert "0402" in {s["service_code"] for s in services}
    definition = client.get_service_definition("0402")
    assert definition["service_code"] == "0402"
    # georeport reads only; the post is the multipart request any client sends.
    with requests.post(
        f"{client.root_address}/requests.json",
        data={**REPORT, "api_key": api_key},
        files={"media": ("cover.jpg", jpeg_bytes(), "image/jpeg")},
        timeout=10,
    ) as posted:
        assert posted.status_code == 201
        number = posted.json()[0]["service_request_id"]
    found = client.get_service_request(number)
    assert found["service_request_id"] == number and found["status"] == "open"
    assert found["media_url"].startswith(live_base.split("/open311")[0])
    listed = client.get_service_requests(service_code="0402", status="open")
    listed = listed if isinstance(listed, list) else [listed]
    assert number in {r["service_request_id"] for r in listed}
    if output_format == "json":
        conforms("services.json", services)
        conforms("service-definition.json", definition)
        conforms("requests.json", listed)
