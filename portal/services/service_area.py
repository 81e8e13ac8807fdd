"""The area the office serves: reports from outside it are refused, whichever door they use.

The area is the polygon of the SERVICE_AREA setting, else the union of the district zones;
with neither (a fresh install), every place is accepted. The union is built once per process
and built again only when the districts change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, unary_union
from shapely.prepared import PreparedGeometry, prep
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Zone
from portal.services import geo


class ServiceAreaError(ValueError):
    """Raised when the SERVICE_AREA setting is not a readable GeoJSON polygon."""


@dataclass(frozen=True)
class District:
    """A district zone, kept with its polygon to name the nearest one."""

    name_zh: str
    name_en: str
    polygon: BaseGeometry

    @property
    def name(self) -> str:
        """Return the name in the current language."""
        return self.name_en if str(get_locale()).startswith("en") else self.name_zh


@dataclass(frozen=True)
class Area:
    """The served area, prepared for fast point tests, and the districts it is made of."""

    area: PreparedGeometry
    districts: tuple[District, ...]


def read_setting(value: str) -> BaseGeometry:
    """Read SERVICE_AREA (inline GeoJSON or the path of a GeoJSON file) as one polygon."""
    text = value.strip()
    try:
        data = json.loads(text if text.startswith("{") else Path(text).read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ServiceAreaError(f"SERVICE_AREA: {error}") from error
    if not isinstance(data, dict):
        raise ServiceAreaError("SERVICE_AREA: a GeoJSON object is expected")
    features = data.get("features") if data.get("type") == "FeatureCollection" else [data]
    try:
        shapes = [shape(f.get("geometry") if f.get("type") == "Feature" else f) for f in features]
    except (AttributeError, TypeError, ValueError, KeyError) as error:
        raise ServiceAreaError(f"SERVICE_AREA: {error}") from error
    polygon = unary_union(shapes) if shapes else None
    if polygon is None or polygon.geom_type not in ("Polygon", "MultiPolygon"):
        raise ServiceAreaError("SERVICE_AREA: a polygon or multipolygon is expected")
    if not polygon.is_valid:
        raise ServiceAreaError("SERVICE_AREA: the polygon is not valid")
    return polygon


def current(session: Session) -> Area | None:
    """Return the served area, or None when every place is accepted."""
    setting = current_app.config.get("SERVICE_AREA") or ""
    # What identifies the districts cheaply: an import that moves one changes its box.
    marks = tuple(
        session.execute(
            select(
                Zone.id,
                Zone.code,
                Zone.name_zh,
                Zone.name_en,
                Zone.min_lng,
                Zone.min_lat,
                Zone.max_lng,
                Zone.max_lat,
            )
            .where(Zone.level == "district")
            .order_by(Zone.id)
        ).all()
    )
    key = (setting, marks)
    kept = current_app.extensions.get("service_area")
    if kept is not None and kept[0] == key:
        return kept[1]
    area = _build(session, setting)
    current_app.extensions["service_area"] = (key, area)
    return area


def _build(session: Session, setting: str) -> Area | None:
    zones = session.scalars(select(Zone).where(Zone.level == "district").order_by(Zone.id))
    districts = tuple(District(z.name_zh, z.name_en, shape(z.geometry)) for z in zones)
    if setting:
        polygon = read_setting(setting)
    elif districts:
        polygon = unary_union([d.polygon for d in districts])
    else:
        return None
    return Area(prep(polygon), districts)


def nearest_district(area: Area, lat: float, lng: float) -> tuple[District, float] | None:
    """Return the district nearest a point with its distance in metres."""
    point = Point(lng, lat)
    found = []
    for district in area.districts:
        near = nearest_points(district.polygon, point)[0]
        found.append((geo.distance_m((lat, lng), (near.y, near.x)), district))
    if not found:
        return None
    distance, district = min(found, key=lambda pair: pair[0])
    return district, distance


def refusal(session: Session, lat: float, lng: float) -> str | None:
    """Return why a point cannot be reported here (outside the served area), or None."""
    area = current(session)
    if area is None or area.area.covers(Point(lng, lat)):
        return None
    margin_m = current_app.config["SERVICE_AREA_MARGIN_KM"] * 1000
    near = nearest_district(area, lat, lng)
    if near is not None and near[1] <= margin_m:
        district, distance = near
        return str(
            _l(
                "This place is outside the area the office serves; the nearest district is "
                "%(district)s, %(km).1f km away. Check the place on the map, or report it to "
                "the authority responsible for it.",
                district=district.name,
                km=distance / 1000,
            )
        )
    return str(
        _l(
            "This place is outside the area the office serves. Check the place on the map "
            "or the coordinates."
        )
    )
