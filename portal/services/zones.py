"""Zones imported from GeoJSON, and a spatial index to find the zone of a point."""

from __future__ import annotations

from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import User, Zone
from portal.models.org import ZONE_LEVELS
from portal.services import audit, geo


def import_geojson(session: Session, collection: dict, actor: User | None) -> tuple[int, int]:
    """Add or update zones from a FeatureCollection; parents must come first or exist."""
    if collection.get("type") != "FeatureCollection":
        raise ValueError("a GeoJSON FeatureCollection is expected")
    added = updated = 0
    for feature in collection.get("features", []):
        props = feature.get("properties") or {}
        code, level = str(props["code"]), props.get("level", "grid")
        if level not in ZONE_LEVELS:
            raise ValueError(f"{code}: level must be one of {', '.join(ZONE_LEVELS)}")
        geometry = feature["geometry"]
        polygon = shape(geometry)
        if polygon.geom_type not in ("Polygon", "MultiPolygon") or not polygon.is_valid:
            raise ValueError(f"{code}: not a valid polygon")
        parent = None
        if props.get("parent"):
            parent = session.scalar(select(Zone).where(Zone.code == str(props["parent"])))
            if parent is None:
                raise ValueError(f"{code}: unknown parent {props['parent']}")
        zone = session.scalar(select(Zone).where(Zone.code == code))
        if zone is None:
            zone = Zone(code=code)
            session.add(zone)
            added += 1
        else:
            updated += 1
        zone.name_zh = props.get("name_zh") or props.get("name") or code
        zone.name_en = props.get("name_en") or zone.name_zh
        zone.level, zone.parent, zone.geometry = level, parent, geometry
        zone.min_lng, zone.min_lat, zone.max_lng, zone.max_lat = geo.zone_bounds(geometry)
        session.flush()
    audit.record(
        session, actor, "zones.import", "zone", "*", after={"added": added, "updated": updated}
    )
    return added, updated
