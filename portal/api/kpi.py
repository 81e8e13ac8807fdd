"""The office's KPIs for a month as JSON, for the whole office, a department or a zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.api import bp
from portal.api.cases import bad_request
from portal.extensions import db, limiter
from portal.models import utcnow
from portal.services import kpi


@bp.route("/kpi")
@limiter.limit(lambda: current_app.config["RATELIMIT_API"])
def kpi_month() -> Response | tuple[Response, int]:
    """Return every KPI of a month as fractions, with the counts behind them and targets."""
    now = utcnow()
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    try:
        month = (
            kpi.parse_month(request.args["month"])
            if request.args.get("month")
            else kpi.current_month(now, tz)
        )
        card = kpi.scorecard(
            db.session,
            month,
            now,
            tz,
            department=request.args.get("department") or None,
            zone=request.args.get("zone") or None,
        )
    except kpi.KpiError as error:
        messages = {
            "month": _("month must be YYYY-MM."),
            "department": _("Unknown department."),
            "zone": _("Unknown zone."),
        }
        return bad_request(messages[error.args[0]])
    return jsonify(card.as_dict())
