"""The city's facilities as GeoJSON for the maps, with their public fields only."""

from __future__ import annotations

import json

from flask import current_app, request
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.api import bp
from portal.api.cases import bad_request, parse_bbox
from portal.extensions import db, limiter
from portal.models import FACILITY_STATES, FacilityType
from portal.models.base import in_english
from portal.services import facility_register
from portal.web import facility_state_label, public_url_for

FEATURE_LIMIT = 2000
# About 11 km × 11 km: a district fits; a whole city at once is asked for in pieces.
MAX_BOX_DEG = 0.1
MAX_TYPES = 20
# One encoder for every feature's properties (json.dumps with options builds one per call).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _types(text: str) -> list[FacilityType] | None:
    """Read 'CODE[,CODE]' into facility types; None if one is unknown."""
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        return []
    if len(codes) > MAX_TYPES:
        return None
    found = db.session.scalars(select(FacilityType).where(FacilityType.code.in_(codes))).all()
    return found if len(found) == len(set(codes)) else None


def _collection(rows: list, truncated: bool) -> str:
    """Write the feature collection as text; the stored geometry goes in as it is kept."""
    english = in_english()
    url = public_url_for("public.facility_page", code="CODE").replace("CODE", "{}")
    labels = {state: str(facility_state_label(state)) for state in FACILITY_STATES}
    parts = []
    for row in rows:
        properties = _encode(
            {
                "code": row.code,
                "type": row.type_code,
                "type_name": row.name_en if english and row.name_en else row.name_zh,
                "state": row.state,
                "state_label": labels[row.state],
                "url": url.format(row.code),
            }
        )
        parts.append(f'{{"type":"Feature","geometry":{row.geometry},"properties":{properties}}}')
    head = json.dumps({"type": "FeatureCollection", "truncated": truncated, "limit": FEATURE_LIMIT})
    return head[:-1] + ',"features":[' + ",".join(parts) + "]}"


@bp.route("/facilities.geojson")
@limiter.limit(lambda: current_app.config["RATELIMIT_API"])
def facilities_geojson() -> Response | tuple[Response, int]:
    """Return the facilities in a box as a GeoJSON FeatureCollection, at most FEATURE_LIMIT."""
    bbox = parse_bbox(request.args.get("bbox", ""))
    if bbox is None:
        return bad_request(_("bbox must be minLng,minLat,maxLng,maxLat in degrees."))
    if bbox[2] - bbox[0] > MAX_BOX_DEG or bbox[3] - bbox[1] > MAX_BOX_DEG:
        return bad_request(
            _("The box is too large: at most %(deg)s degrees each way.", deg=MAX_BOX_DEG)
        )
    types = _types(request.args.get("type", ""))
    if types is None:
        return bad_request(_("Unknown facility type."))
    state = request.args.get("state") or None
    if state is not None and state not in FACILITY_STATES:
        return bad_request(_("Unknown state."))
    rows, truncated = facility_register.in_box(
        db.session, bbox, [t.id for t in types], state, FEATURE_LIMIT
    )
    response = current_app.response_class(
        _collection(rows, truncated), mimetype="application/geo+json"
    )
    # The register changes by surveys and repairs, not by the second: a minute is fresh enough.
    response.headers["Cache-Control"] = "public, max-age=60"
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response
