"""Cases as GeoJSON for the map, and open cases near a point."""

from __future__ import annotations

import math

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import Row, select
from werkzeug.wrappers import Response

from portal.api import bp
from portal.extensions import db, limiter
from portal.models import STATES, Case, Category
from portal.models.base import in_english
from portal.services import case_search, cases, geo, intake, moderation
from portal.web import public_url_for, state_label


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


def features(rows: list[Row]) -> list[dict]:
    """Return case rows as GeoJSON features with their public fields only."""
    english = in_english()
    # One url_for for the whole list: building a thousand URLs one by one is slow.
    url = public_url_for("public.case_page", number="NUMBER").replace("NUMBER", "{}")
    labels = {state: state_label(state) for state in STATES}
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [row.lng, row.lat]},
            "properties": {
                "number": row.number,
                "category": (row.name_en if english and row.name_en else row.name_zh),
                "category_code": row.category_code,
                "state": row.state,
                "state_label": labels[row.state],
                "created_at": row.created_at.isoformat(),
                # The map's feed: say when a moderator hid part of the case.
                "moderated": row.moderated,
                "url": url.format(row.number),
            },
        }
        for row in rows
    ]


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
    response = jsonify(type="FeatureCollection", features=features(found))
    response.mimetype = "application/geo+json"
    return response


def first_photo_thumb(case: Case) -> str | None:
    """Return the link to the thumbnail of a case's first report photo, if it has one."""
    first = next((p for p in case.public_photos if p.kind == "report"), None)
    return url_for("public.photo", sha256=first.sha256, variant="thumb") if first else None


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
        # Sent back with the report: the server does not offer these same cases again.
        offer=intake.sign_offer(c.id for c, _d in found),
        cases=[
            {
                "number": c.number,
                "category": c.category.name,
                "state_label": state_label(c.state),
                "description": moderation.with_note(c.description[:280], c.moderated),
                "distance_m": round(d, 1),
                "url": url_for("public.case_page", number=c.number),
                "follow_url": url_for("public.follow", number=c.number),
                "thumb_url": first_photo_thumb(c),
            }
            for c, d in found
        ],
    )
