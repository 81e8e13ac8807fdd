"""Places: which zone a point falls in, distances, and geocoding."""

from __future__ import annotations

import json
import math
from functools import lru_cache

from flask import current_app
from geopy.distance import geodesic
from geopy.exc import GeopyError
from geopy.geocoders import get_geocoder_for_service
from shapely.geometry import Point, shape
from shapely.prepared import PreparedGeometry, prep
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Zone

METERS_PER_DEGREE = 111_320.0
LEVEL_DEPTH = {"district": 0, "street": 1, "grid": 2}


def is_valid_position(lat: float, lng: float) -> bool:
    """Tell whether a latitude and longitude are a real place on Earth."""
    return math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the geodesic distance in metres between two (lat, lng) points."""
    return geodesic(a, b).meters


def bbox_around(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """Return (min_lat, min_lng, max_lat, max_lng) of a box enclosing a circle."""
    dlat = radius_m / METERS_PER_DEGREE
    dlng = radius_m / (METERS_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    return lat - dlat, lng - dlng, lat + dlat, lng + dlng


@lru_cache(maxsize=512)
def _prepared(zone_id: int, geometry_key: str) -> PreparedGeometry:
    return prep(shape(json.loads(geometry_key)))


def zone_for_point(session: Session, lat: float, lng: float) -> Zone | None:
    """Return the most specific zone (grid, street, district) containing the point."""
    candidates = session.scalars(
        select(Zone).where(
            Zone.min_lat <= lat, Zone.max_lat >= lat, Zone.min_lng <= lng, Zone.max_lng >= lng
        )
    ).all()
    point = Point(lng, lat)
    inside = [
        z
        for z in candidates
        if _prepared(z.id, json.dumps(z.geometry, sort_keys=True)).covers(point)
    ]
    return max(inside, key=lambda z: LEVEL_DEPTH.get(z.level, 0), default=None)


def zone_bounds(geometry: dict) -> tuple[float, float, float, float]:
    """Return (min_lng, min_lat, max_lng, max_lat) of a GeoJSON geometry."""
    return shape(geometry).bounds


def geocode(address: str) -> tuple[float, float] | None:
    """Find an address with the configured geocoder; None when none is set or it fails."""
    service = current_app.config.get("GEOCODER")
    if not service or not address.strip():
        return None
    options = {
        "user_agent": current_app.config["GEOCODER_USER_AGENT"],
        "timeout": current_app.config["GEOCODER_TIMEOUT"],
        "scheme": current_app.config["GEOCODER_SCHEME"],
    }
    if current_app.config.get("GEOCODER_DOMAIN"):
        options["domain"] = current_app.config["GEOCODER_DOMAIN"]
    try:
        geocoder = get_geocoder_for_service(service)(**options)
        found = geocoder.geocode(address)
    except (GeopyError, ValueError, TypeError) as error:
        current_app.logger.warning("geocoding failed: %s", error)
        return None
    if found is None or not is_valid_position(found.latitude, found.longitude):
        return None
    return found.latitude, found.longitude


def zone_named_in(session: Session, text: str) -> Zone | None:
    """Return the most specific zone whose Chinese or English name the text mentions."""
    text = text.strip().lower()
    if not text:
        return None
    named = [
        z
        for z in session.scalars(select(Zone)).all()
        if (z.name_zh and z.name_zh.lower() in text) or (z.name_en and z.name_en.lower() in text)
    ]
    return max(named, key=lambda z: LEVEL_DEPTH.get(z.level, 0), default=None)


def locate_address(session: Session, address: str) -> tuple[float, float] | None:
    """Place an address: the configured geocoder, else a point inside a zone it names."""
    position = geocode(address)
    if position is not None:
        return position
    zone = zone_named_in(session, address)
    if zone is None:
        return None
    point = shape(zone.geometry).representative_point()
    return round(point.y, 7), round(point.x, 7)
