"""Fast on a phone: compressed answers, static files at versioned addresses cached a year,
deferred scripts, Leaflet only where a map is, streamed exports still streamed."""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser
from pathlib import Path

import brotli
import pytest
from flask import url_for

from portal import assets
from tests.factories import make_case

STATIC = Path(__file__).resolve().parents[2] / "static"
YEAR = "public, max-age=31536000, immutable"
VERSIONED = re.compile(r"/static/(?P<name>.+)\.[0-9a-f]{12}(?P<suffix>\.\w+)$")


def decoded(response) -> bytes:
    """Return the body of an answer as the browser reads it."""
    encoding = response.headers.get("Content-Encoding")
    if encoding == "br":
        return brotli.decompress(response.data)
    if encoding == "gzip":
        return gzip.decompress(response.data)
    assert encoding is None, encoding
    return response.data


def without_token(page: bytes) -> bytes:
    """Return a page without its CSRF token, which is signed anew at each request."""
    return re.sub(
        rb'(csrf-token" content=|name="csrf_token" type="hidden" value=)"[^"]*"', b"", page
    )


def fetch(client, url: str, method: str = "GET", **options):
    """Return an answer read whole, its file closed (static files are sent from disk)."""
    with client.open(url, method=method, **options) as answer:
        answer.get_data()
    return answer


@pytest.fixture
def cases(db, reference):
    """Enough public cases for the lists and the GeoJSON to be worth compressing."""
    return [make_case(db.session)[0] for _ in range(6)]


@pytest.mark.parametrize(
    "path",
    [
        "/",  # HTML
        "/cases",
        "/api/v1/kpi",  # JSON
        "/api/v1/cases.geojson?bbox=119,29,121,31",  # GeoJSON
    ],
)
def test_pages_json_and_geojson_are_compressed_in_br_and_gzip(client, cases, path):
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert len(plain.data) > assets.MIN_SIZE
    for accepted, expected in (
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
    ):
        answer = client.get(path, headers={"Accept-Encoding": accepted})
        assert answer.headers["Content-Encoding"] == expected, (path, accepted)
        assert "Accept-Encoding" in answer.headers["Vary"]
        assert int(answer.headers["Content-Length"]) == len(answer.data) < len(plain.data)
        assert without_token(decoded(answer)) == without_token(plain.data)


def test_a_head_request_gets_the_headers_of_the_compressed_page(client, cases):
    head = client.head("/cases", headers={"Accept-Encoding": "br"})
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Encoding"] == "br"


def test_static_files_have_versioned_addresses_cached_a_year(app, client):
    with app.test_request_context():
        css = url_for("static", filename="css/site.css")
        script = url_for("static", filename="js/common.js")
    for url, name in ((css, "css/site.css"), (script, "js/common.js")):
        assert VERSIONED.fullmatch(url), url
        original = (STATIC / name).read_bytes()
        for accepted, expected in (("gzip, deflate, br", "br"), ("gzip", "gzip"), ("", None)):
            answer = fetch(client, url, headers={"Accept-Encoding": accepted})
            assert answer.status_code == 200
            assert answer.headers["Cache-Control"] == YEAR
            assert answer.headers.get("Content-Encoding") == expected
            assert answer.headers["Vary"] == "Accept-Encoding"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert decoded(answer) == original
        etag = fetch(client, url).headers["ETag"]
        assert fetch(client, url, headers={"If-None-Match": etag}).status_code == 304
        head = fetch(client, url, "HEAD", headers={"Accept-Encoding": "br"})
        assert (
            head.status_code == 200 and head.data == b"" and head.headers["Cache-Control"] == YEAR
        )


def test_a_plain_or_outdated_address_still_works_cached_briefly(app, client):
    original = (STATIC / "css" / "site.css").read_bytes()
    for url in ("/static/css/site.css", "/static/css/site.0123456789ab.css"):
        answer = fetch(client, url)
        assert answer.status_code == 200, url
        assert answer.headers["Cache-Control"] == f"public, max-age={assets.SHORT_AGE}", url
        assert answer.data == original
    assert fetch(client, "/static/css/nothing.0123456789ab.css").status_code == 404
    assert fetch(client, "/static/css/../../pyproject.toml").status_code == 404


def test_a_changed_file_gets_a_new_address(tmp_path):
    (tmp_path / "a.js").write_text("one")
    first = assets.versioned("a.js", assets.file_digest(str(tmp_path / "a.js")))
    (tmp_path / "a.js").write_text("two")
    second = assets.versioned("a.js", assets.file_digest(str(tmp_path / "a.js")))
    assert first != second and first.startswith("a.") and first.endswith(".js")


def test_static_files_over_https_carry_hsts(app, client):
    with app.test_request_context():
        url = url_for("static", filename="css/site.css")
    secure = fetch(client, url, base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in fetch(client, url).headers


class Tags(HTMLParser):
    """Collect the scripts and stylesheets of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        given = dict(attrs)
        if tag == "script":
            self.scripts.append(given)
        if tag == "link" and given.get("rel") == "stylesheet":
            self.styles.append(given["href"])


def tags(html: str) -> Tags:
    """Parse a page's scripts and stylesheets."""
    parser = Tags()
    parser.feed(html)
    return parser


def test_every_script_of_the_public_pages_is_deferred(client, cases):
    case = cases[0]
    pages = ["/", "/cases", f"/cases/{case.number}", "/report/new", "/kpi", "/consultations"]
    pages += ["/suggestions", "/notices", "/contractors", "/privacy", "/login"]
    for path in pages:
        page = client.get(path)
        assert page.status_code == 200, path
        found = tags(page.get_data(as_text=True))
        assert found.scripts, path
        for script in found.scripts:
            assert "defer" in script and VERSIONED.search(script["src"]), (path, script)
        html = page.get_data(as_text=True)
        assert 'name="description" content="' in html and 'rel="icon"' in html, path


def test_leaflet_loads_only_with_a_map_and_markercluster_only_where_markers_cluster(client, cases):
    def loaded(path: str) -> set[str]:
        found = tags(client.get(path).get_data(as_text=True))
        urls = [s["src"] for s in found.scripts] + found.styles
        urls += [s["data-echarts"] for s in found.scripts if "data-echarts" in s]
        return {
            name for name in ("vendor/leaflet/", "markercluster", "echarts") if name in str(urls)
        }

    assert loaded("/") == {"vendor/leaflet/", "markercluster"}
    assert loaded("/report/new") == {"vendor/leaflet/"}
    assert loaded(f"/cases/{cases[0].number}") == {"vendor/leaflet/"}
    assert loaded("/cases") == set()
    assert loaded("/kpi") == {"echarts"}
    assert loaded("/privacy") == set()


def test_the_favicon_is_served_and_no_vendored_file_points_at_a_missing_source_map(client):
    assert fetch(client, "/static/favicon.svg").mimetype == "image/svg+xml"
    for path in STATIC.rglob("*.js"):
        for found in re.finditer(r"sourceMappingURL=(\S+)", path.read_text(errors="replace")):
            assert (path.parent / found.group(1)).is_file(), path
    for path in STATIC.rglob("*.css"):
        for found in re.finditer(r"sourceMappingURL=([^\s*]+)", path.read_text()):
            assert (path.parent / found.group(1)).is_file(), path


def test_the_kpi_charts_use_the_reduced_echarts_build(client, reference):
    page = client.get("/kpi").get_data(as_text=True)
    (src,) = [s["data-echarts"] for s in tags(page).scripts if "data-echarts" in s]
    build = fetch(client, src, headers={"Accept-Encoding": "br"})
    assert build.status_code == 200 and build.headers["Content-Encoding"] == "br"
    assert len(decoded(build)) < 600_000  # the full build is 1.1 MB
    assert len(build.data) < 200_000


def test_the_public_csv_stays_streamed_and_is_compressed_chunk_by_chunk(client, cases):
    plain = client.get("/cases.csv")
    answer = client.get("/cases.csv", headers={"Accept-Encoding": "br, gzip"}, buffered=False)
    assert answer.is_streamed and "Content-Length" not in answer.headers
    assert answer.headers["Content-Encoding"] == "br"
    body = b"".join(answer.response)
    answer.close()
    assert brotli.decompress(body) == plain.data
    assert plain.data.count(b"\n") > len(cases)


@pytest.mark.parametrize("tiles", ["", "https://tile.example.cn/{z}/{x}/{y}.png"])
def test_without_a_tile_server_the_no_tiles_notice_is_there_from_the_first_paint(
    app, client, cases, tiles
):
    # Shown by the server, not switched on by a script after the page has painted (a late
    # notice and a map that shrinks under the reader).
    app.config["MAP_TILE_URL"] = tiles
    for path in ("/", "/report/new", f"/cases/{cases[0].number}"):
        html = client.get(path).get_data(as_text=True)
        notice = re.search(r'<p id="map-fallback" class="map-fallback"( hidden)?>', html)
        assert notice is not None, path
        assert (notice.group(1) is None) == (not tiles), path
        assert ("tiles-failed" in html) == (not tiles), path
