"""Contractors and projects: validation and the geometry of a site."""

from __future__ import annotations

import math
from datetime import datetime

from shapely.errors import GeometryTypeError
from shapely.geometry import LineString, Point, shape
from shapely.ops import nearest_points
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import uscc

from portal.models import Contractor, Project, User
from portal.services import audit, geo


class WorksError(ValueError):
    """Raised with a code when a contractor or project is not valid."""


def clean_credit_code(code: str) -> str:
    """Return the unified social credit code (统一社会信用代码) in its standard form, or raise."""
    compact = uscc.compact(code or "")
    if not uscc.is_valid(compact):
        raise WorksError("credit_code")
    return compact


def site_geometry(geometry: dict) -> tuple[dict, float, float]:
    """Check a site's GeoJSON (a Point or a LineString in WGS-84); return it with a
    representative (lat, lng)."""
    try:
        shaped = shape(geometry)
    except (KeyError, TypeError, ValueError, AttributeError, GeometryTypeError) as error:
        raise WorksError("geometry") from error
    if shaped.geom_type not in ("Point", "LineString") or shaped.is_empty:
        raise WorksError("geometry")
    if not all(geo.is_valid_position(lat, lng) for lng, lat in shaped.coords):
        raise WorksError("geometry")
    middle = shaped if shaped.geom_type == "Point" else shaped.interpolate(0.5, normalized=True)
    return geometry, middle.y, middle.x


def distance_to_site(project: Project, lat: float, lng: float) -> float:
    """Return the geodesic distance in metres from a position to the nearest point of a site."""
    site = shape(project.geometry)
    if site.geom_type == "Point":
        return geo.distance_m((lat, lng), (site.y, site.x))
    # Find the nearest point in a local metric projection, then measure it geodesically.
    scale = math.cos(math.radians(lat))
    local = LineString([((x - lng) * scale, y - lat) for x, y in site.coords])
    _, nearest = nearest_points(Point(0, 0), local)
    return geo.distance_m((lat, lng), (nearest.y + lat, nearest.x / scale + lng))


def save_contractor(
    session: Session,
    actor: User | None,
    name: str,
    credit_code: str,
    contact_name: str = "",
    contact_phone: str = "",
    contractor: Contractor | None = None,
) -> Contractor:
    """Create or update a contractor after checking its credit code."""
    code = clean_credit_code(credit_code)
    clash = session.scalar(select(Contractor).where(Contractor.credit_code == code))
    if clash is not None and clash is not contractor:
        raise WorksError("duplicate")
    before = {"name": contractor.name, "credit_code": contractor.credit_code} if contractor else {}
    contractor = contractor or Contractor()
    contractor.name, contractor.credit_code = name.strip(), code
    contractor.contact_name, contractor.contact_phone = contact_name.strip(), contact_phone.strip()
    session.add(contractor)
    session.flush()
    audit.record(
        session,
        actor,
        "contractor.save",
        "contractor",
        contractor.id,
        before,
        {"name": contractor.name, "credit_code": code},
    )
    return contractor


def save_project(
    session: Session, actor: User | None, project: Project, fields: dict, now: datetime
) -> Project:
    """Create or update a project from checked fields (geometry validated here)."""
    geometry, lat, lng = site_geometry(fields.pop("geometry"))
    if session.scalar(
        select(Project).where(Project.code == fields["code"], Project.id != (project.id or 0))
    ):
        raise WorksError("duplicate")
    before = {"phase": project.phase, "active_site": project.active_site} if project.id else {}
    for key, value in fields.items():
        setattr(project, key, value)
    project.geometry, project.lat, project.lng = geometry, lat, lng
    session.add(project)
    session.flush()
    audit.record(
        session,
        actor,
        "project.save",
        "project",
        project.code,
        before,
        {"phase": project.phase, "active_site": project.active_site},
        now=now,
    )
    return project
