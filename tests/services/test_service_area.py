"""The service area: the union of the districts or a configured polygon, and its refusals."""

from __future__ import annotations

import json

import pytest
from flask_babel import force_locale

from portal.config import ConfigError, Settings
from portal.models import Zone
from portal.services import service_area
from tests.factories import CENTRE

NEW_YORK = (40.7128, -74.0060)
# About 1 km east of the demo district's eastern edge (120.180), and about 10 km east.
OUTSKIRTS = (30.2800, 120.1900)
FAR_EAST = (30.2800, 120.2800)
AROUND_NEW_YORK = {
    "type": "Polygon",
    "coordinates": [[[-74.1, 40.6], [-73.9, 40.6], [-73.9, 40.8], [-74.1, 40.8], [-74.1, 40.6]]],
}


@pytest.fixture(autouse=True)
def request_in_chinese(app):
    """Serve each check inside a request, as the form and Open311 do."""
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        yield


def test_a_fresh_install_without_districts_accepts_every_place(app, db):
    assert service_area.current(db.session) is None
    assert service_area.refusal(db.session, *NEW_YORK) is None


def test_the_districts_make_the_area(app, db, reference):
    assert service_area.refusal(db.session, *CENTRE) is None
    with force_locale("zh_Hans_CN"):
        refused = service_area.refusal(db.session, *NEW_YORK)
    assert refused is not None and "服务范围" in refused
    assert "最近的辖区" not in refused  # far away: no district to name


def test_the_outskirts_name_the_nearest_district(app, db, reference):
    with force_locale("zh_Hans_CN"):
        near = service_area.refusal(db.session, *OUTSKIRTS)
        far = service_area.refusal(db.session, *FAR_EAST)
    assert "最近的辖区是拱墅示范区" in near and "1.0 公里" in near
    assert "拱墅示范区" not in far
    with force_locale("en"):
        near = service_area.refusal(db.session, *OUTSKIRTS)
    assert "the nearest district is Gongshu Demo District, 1.0 km away" in near


def test_the_margin_is_a_setting(app, db, reference):
    app.config["SERVICE_AREA_MARGIN_KM"] = 0.5
    with force_locale("zh_Hans_CN"):
        assert "拱墅示范区" not in service_area.refusal(db.session, *OUTSKIRTS)


def test_a_new_district_widens_the_area_at_once(app, db, reference):
    assert service_area.refusal(db.session, *NEW_YORK) is not None
    db.session.add(
        Zone(
            code="NY",
            name_zh="纽约",
            name_en="New York",
            level="district",
            geometry=AROUND_NEW_YORK,
            min_lng=-74.1,
            min_lat=40.6,
            max_lng=-73.9,
            max_lat=40.8,
        )
    )
    db.session.flush()
    assert service_area.refusal(db.session, *NEW_YORK) is None
    assert service_area.refusal(db.session, *CENTRE) is None


def test_a_configured_polygon_replaces_the_districts(app, db, reference, tmp_path):
    app.config["SERVICE_AREA"] = json.dumps(AROUND_NEW_YORK)
    assert service_area.refusal(db.session, *NEW_YORK) is None
    assert service_area.refusal(db.session, *CENTRE) is not None
    path = tmp_path / "area.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": AROUND_NEW_YORK}],
            }
        )
    )
    app.config["SERVICE_AREA"] = str(path)
    assert service_area.refusal(db.session, *NEW_YORK) is None
    assert service_area.refusal(db.session, *CENTRE) is not None


@pytest.mark.parametrize(
    "value",
    [
        "/no/such/area.geojson",
        "{not json",
        '{"type": "Point", "coordinates": [120.1, 30.2]}',
        '{"type": "FeatureCollection", "features": []}',
        "[1, 2]",
    ],
)
def test_a_broken_setting_stops_start_up_with_a_clear_message(tmp_path, value):
    with pytest.raises(ConfigError, match="SERVICE_AREA"):
        Settings({"SERVICE_AREA": value}).load(str(tmp_path))
