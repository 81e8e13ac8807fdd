"""Cases as GeoJSON for the map, and open cases near a point."""

from __future__ import annotations

import math

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.api import bp
from portal.extensions import db, limiter
from portal.models import STATES, Case, Category
from portal.services import case_search, cases, geo
from portal.web import state_label


def bad_request(message: str) -> tuple[Response, int]:
    """Answer 400 with a message in the API's error format."""
    return jsonify(error={"code": 400, "message": message}), 400


def parse_bbox(text: str) -> tuple[float, float, float, float] | None:
    """Read 'minLng,minLat,maxLng,maxLat'; None if it is not a real box."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        return None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        return None
    min_lng, min_lat, max_lng, max_lat = values
    if not (geo.is_valid_position(min_lat, min_lng) and geo.is_valid_position(max_lat, max_lng)):
        return None
    if min_lng > max_lng or min_lat > max_lat:
        return None
    return values


def feature(case: Case) -> dict:
    """Return a case as a GeoJSON feature with its public fields only."""
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [case.lng, case.lat]},
        "properties": {
            "number": case.number,
            "category": case.category.name,
            "category_code": case.category.code,
            "state": case.state,
            "state_label": state_label(case.state),
            "created_at": case.created_at.isoformat(),
            "url": url_for("public.case_page", number=case.number, _external=True),
        },
    }


@bp.route("/cases.geojson")
@limiter.limit(lambda: current_app.config["RATELIMIT_API"])
def cases_geojson() -> Response | tuple[Response, int]:
    """Return the public cases in a box as a GeoJSON FeatureCollection."""
    bbox = parse_bbox(request.args.get("bbox", ""))
    if bbox is None:
        return bad_request(_("bbox must be minLng,minLat,maxLng,maxLat in degrees."))
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        return bad_request(_("Unknown state."))
    found = case_search.in_bbox(
        db.session, bbox, state=state, category=request.args.get("category") or None
    )
    response = jsonify(type="FeatureCollection", features=[feature(c) for c in found])
    response.mimetype = "application/geo+json"
    return response


@bp.route("/cases/nearby")
@limiter.limit(lambda: current_app.config["RATELIMIT_API"])
def cases_nearby() -> Response | tuple[Response, int]:
    """Return open cases of a category near a point, for "me too" before reporting."""
    try:
        lat, lng = float(request.args["lat"]), float(request.args["lng"])
    except (KeyError, ValueError):
        return bad_request(_("lat and lng must be numbers."))
    if not geo.is_valid_position(lat, lng):
        return bad_request(_("lat and lng must be numbers."))
    category = db.session.scalar(
        select(Category).where(Category.code == request.args.get("category", ""))
    )
    if category is None:
        return bad_request(_("Unknown category."))
    radius = current_app.config["NEARBY_RADIUS_M"]
    found = cases.nearby_open(db.session, category, lat, lng, radius)
    return jsonify(
        cases=[
            {
                "number": c.number,
                "category": c.category.name,
                "state_label": state_label(c.state),
                "description": c.description[:280],
                "distance_m": round(d, 1),
                "url": url_for("public.case_page", number=c.number),
                "follow_url": url_for("public.follow", number=c.number),
            }
            for c, d in found
        ]
    )
