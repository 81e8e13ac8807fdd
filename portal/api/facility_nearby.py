"""The facilities of a type near a point, for the report form's map and list."""

from __future__ import annotations

import math

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.api import bp
from portal.api.cases import bad_request
from portal.extensions import db, limiter
from portal.models import Category, FacilityType
from portal.services import facilities, geo

MAX_RESULTS = 10


def _type_of(code: str, category_code: str) -> FacilityType | None:
    """Return the facility type asked for: by its code, or the one a category names."""
    if code:
        return db.session.scalar(select(FacilityType).where(FacilityType.code == code[:4]))
    if category_code:
        category = db.session.scalar(
            select(Category).where(Category.code == category_code[:20], Category.active)
        )
        return category.facility_type if category is not None else None
    return None


@bp.route("/facilities/nearby")
@limiter.limit(lambda: current_app.config["RATELIMIT_API"])
def facilities_nearby() -> Response | tuple[Response, int]:
    """Return the facilities of a type (`type`, or the one `category` names) near lat/lng,
    nearest first, with their public fields only."""
    try:
        lat, lng = float(request.args["lat"]), float(request.args["lng"])
    except (KeyError, ValueError):
        return bad_request(_("lat and lng must be numbers."))
    if not (math.isfinite(lat) and math.isfinite(lng) and geo.is_valid_position(lat, lng)):
        return bad_request(_("lat and lng must be numbers."))
    facility_type = _type_of(request.args.get("type", ""), request.args.get("category", ""))
    if facility_type is None:
        return bad_request(_("Unknown facility type."))
    radius = current_app.config["FACILITY_NEARBY_RADIUS_M"]
    found = facilities.nearby(db.session, facility_type.id, lat, lng, radius, MAX_RESULTS)
    return jsonify(
        type=facility_type.code,
        type_name=facility_type.name,
        radius_m=radius,
        facilities=[facilities.public_fields(f, d) for f, d in found],
    )
