"""Contractors' credit codes, site geometry and geofence distances."""

import pytest

from portal.models import Project
from portal.services import works


def test_credit_codes_are_checked():
    assert works.clean_credit_code("91110000 600037341L") == "91110000600037341L"
    for bad in ("91110000600037341X", "123", "", "9111000060003734IL"):
        with pytest.raises(works.WorksError):
            works.clean_credit_code(bad)


def test_site_geometry_accepts_points_and_lines_only():
    point = {"type": "Point", "coordinates": [120.15, 30.27]}
    assert works.site_geometry(point)[1:] == (30.27, 120.15)
    line = {"type": "LineString", "coordinates": [[120.15, 30.27], [120.17, 30.27]]}
    _, lat, lng = works.site_geometry(line)
    assert lat == pytest.approx(30.27) and lng == pytest.approx(120.16)
    for bad in (
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        {"type": "Point", "coordinates": [200, 95]},
        {"type": "Nope"},
        {},
    ):
        with pytest.raises(works.WorksError):
            works.site_geometry(bad)


def test_distance_to_a_point_and_to_the_nearest_point_of_a_line():
    point = Project(geometry={"type": "Point", "coordinates": [120.1551, 30.2741]})
    assert works.distance_to_site(point, 30.2741, 120.1551) == pytest.approx(0, abs=0.01)
    assert works.distance_to_site(point, 30.2768, 120.1551) == pytest.approx(299.5, abs=1)
    road = Project(
        geometry={"type": "LineString", "coordinates": [[120.15, 30.27], [120.17, 30.27]]}
    )
    # 200 m north of the middle of an east-west road: the nearest point is straight south.
    assert works.distance_to_site(road, 30.2718, 120.16) == pytest.approx(199.5, abs=1)
    # Beyond the east end: the nearest point is the end itself.
    beyond = works.distance_to_site(road, 30.27, 120.1731)
    assert beyond == pytest.approx(299, abs=2)
